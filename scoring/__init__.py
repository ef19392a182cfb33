"""The scoring service: model registry, training, routing, the web app and the CLI."""
