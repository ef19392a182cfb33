"""Scoring from a stream of events (``scorer stream``): the same scoring as ``/score``."""
