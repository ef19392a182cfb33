"""The scoring service: models, the prediction log, serving, the web app and the CLI."""
