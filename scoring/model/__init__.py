"""A model version: its manifest, the registry that stores it, loading, encoding."""
