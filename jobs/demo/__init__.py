"""The demo: seeded data, a local Redis, the one-command set-up and traffic."""
