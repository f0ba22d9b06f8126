"""Structural trainer: an LLM rewrites the memory scaffold, gated on held-out seeds."""
