"""How every process of the service logs: one ``dictConfig`` for the CLI, uvicorn and workers."""

from __future__ import annotations

from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
"""The human format: time, level, logger, message."""

OUR_LOGGERS = ("scoring", "features", "drift", "jobs")
"""The packages whose loggers report at the configured level."""


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dictionary: our loggers and uvicorn's, on stderr.

    uvicorn applies it in every worker process it starts (``log_config``); a
    ``logging.basicConfig`` in the parent reaches none of them. Other libraries log
    warnings and worse through the root logger, in the same format.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,  # module loggers exist before this runs
        "formatters": {"text": {"format": TEXT_FORMAT}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "text",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            **{name: {"level": level} for name in OUR_LOGGERS},
            # uvicorn.error and uvicorn.access propagate to it; uvicorn sets their levels.
            "uvicorn": {"level": level},
        },
        "root": {"level": "WARNING", "handlers": ["stderr"]},
    }
