"""Drift statistics, reference profiles and report rendering: pure functions over NumPy/Arrow."""
