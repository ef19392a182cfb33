"""``scorer stream``: score the events of a Redis Stream, as ``/score`` would answer them."""

from __future__ import annotations

from typing import Annotated

import typer

from scoring.cli.options import settings_from
from scoring.cli.terminal import native_stderr_dropped
from scoring.logging_config import configure_logging


def stream(
    consumer: Annotated[
        str | None,
        typer.Option(
            help="This process's name in the group (default SCORER_STREAM_CONSUMER "
            "or <host>-<pid>)."
        ),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Entries read at once (default SCORER_STREAM_BATCH_SIZE).")
    ] = None,
) -> None:
    """Score the request stream (SCORER_STREAM_REQUESTS) until SIGTERM; results go to
    SCORER_STREAM_RESULTS, entries that cannot be scored to SCORER_STREAM_DEAD."""
    from features.store import open_feature_store
    from scoring.model.registry import ModelRegistry
    from scoring.serving.served import load_served
    from scoring.stream.process import consume, run

    settings = settings_from(stream_consumer=consumer, stream_batch_size=batch_size)
    configure_logging(settings.log_format)
    # Mistakes one line each, as for `scorer serve`: an unknown default model, a broken
    # champion, a folder without feature_store.yaml.
    with native_stderr_dropped():
        load_served(ModelRegistry(settings.models_dir), settings.default_model)
    open_feature_store(settings.feature_repo, settings.online_store)
    run(consume(settings))
