"""``scorer serve``: the HTTP API under uvicorn, checked before any worker starts."""

from __future__ import annotations

import functools
import os
from typing import Annotated, Any

import typer

from scoring.cli.options import settings_from
from scoring.cli.terminal import native_stderr_dropped
from scoring.logging_config import logging_config
from scoring.settings import Settings


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What ``serve`` and ``demo`` tell uvicorn besides where to listen."""
    from scoring.web.client_deadlines import ClientDeadlineProtocol

    return {
        "access_log": settings.access_log,
        # uvicorn applies it in every worker process too
        "log_config": logging_config(settings.log_format),
        # A slow client cannot hold SIGTERM's exit: its request is cancelled after this.
        "timeout_graceful_shutdown": settings.shutdown_timeout_s,
        # uvicorn has no deadline nor size limit on request headers: its own protocol with
        # them (and the body's deadline, which it keeps cheaper than the app could).
        "http": functools.partial(
            ClientDeadlineProtocol,
            header_timeout_s=settings.header_timeout_s,
            body_timeout_s=settings.body_timeout_s,
            max_header_bytes=settings.max_header_bytes,
        ),
    }


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default SCORER_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default SCORER_PORT).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default SCORER_WORKERS).")
    ] = None,
) -> None:
    """Serve the HTTP API (uvicorn) with the champion of every registered model."""
    import uvicorn

    from features.store import open_feature_store
    from scoring.model.registry import ModelRegistry
    from scoring.serving.served import load_served
    from scoring.serving.worker_metrics import metrics_dir_for_workers

    settings = settings_from(host=host, port=port, workers=workers)
    # A worker that cannot open the feature repo or load the models (an unknown default
    # model, a broken champion, an unreadable alias file) dies in uvicorn's startup
    # traceback, and with several workers the parent then exits 0. Open here what every
    # worker will, so the mistake is one line naming the file (and, for a champion, the fix).
    with native_stderr_dropped():
        load_served(ModelRegistry(settings.models_dir), settings.default_model)
    open_feature_store(settings.feature_repo, settings.online_store)
    # One /metrics for all workers: they share a folder this run empties and removes.
    with metrics_dir_for_workers(settings.data_dir):
        uvicorn.run(
            "scoring.web.app:app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers or os.cpu_count() or 1,
            **uvicorn_options(settings),
        )
