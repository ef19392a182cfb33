"""The framework-free data plane: requests, routing, batching, scoring, reload."""
