"""Seeded demo data for the fraud feature repo."""
