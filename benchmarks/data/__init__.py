"""Game metadata (package data)."""
