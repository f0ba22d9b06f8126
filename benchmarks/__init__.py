"""Benchmarks on Crafter, MiniHack and NetHack (BALROG protocol)."""
