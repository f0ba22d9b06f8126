"""Offline trainers: structural and behavioral."""
