"""LLM clients behind one protocol."""
