"""Scheduled work as plain functions with explicit inputs; the scheduler only wires triggers."""
