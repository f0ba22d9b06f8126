"""Behavioral trainer: distil good memory decisions into a LoRA memory specialist."""
