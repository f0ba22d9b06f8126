"""Built-in scaffolds (package data)."""
