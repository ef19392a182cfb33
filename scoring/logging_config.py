"""How every process of the service logs: one ``dictConfig`` for the CLI, uvicorn and workers."""

from __future__ import annotations

import contextlib
import io
import logging
import logging.config
import re
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, Literal

LogFormat = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
"""The human format: time, level, logger, message."""

JSON_FIELDS = ("time", "level", "logger", "message")
"""The fields of every JSON line, in this order (then ``request_id``, extras, ``exc_info``)."""

PRINTS_LOGGER = "prints"
"""The logger of what libraries print in ``json`` mode (:func:`prints_logged`)."""

OUR_LOGGERS = ("scoring", "features", "drift", "jobs", PRINTS_LOGGER)
"""The loggers that report at the configured level: our packages', and printed lines."""

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
"""The id of the request being served, set where the id is made; its task's log lines carry it.

Set once per request and not reset: a request is served by a task of its own, which the
id ends with, and the lines written after the answer (uvicorn's access line, its error for an
exception) belong to the request too. Tasks started while serving it (a shadow scoring) copy it.
A caller that serves several requests in one task should give each a context of its own
(``contextvars.copy_context().run``), or its lines between requests name the last one.
"""


class RequestIdField(logging.Filter):
    """Adds ``request_id`` to each record written while a request is in scope."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always passes the record, with the request's id if there is one."""
        request_id = REQUEST_ID.get()
        if request_id is not None:
            record.request_id = request_id
        return True


class AccessFields(logging.Filter):
    """Adds the parts of uvicorn's access line as fields: ``client``, ``method``, ``path``,
    ``status``, so that a log store can filter on them without parsing the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always passes the record; uvicorn logs the parts as the message's arguments."""
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            record.client, record.method, record.path, _, record.status = args
        return True


class WarningsLogged(logging.Filter):
    """Passes every record; being built routes Python warnings through logging (``py.warnings``).

    uvicorn hands its workers nothing but this configuration, and they import the app (and
    Feast, which may warn) before any of our code runs: the configuration itself must
    redirect warnings, or they would reach stderr as plain text.
    """

    def __init__(self) -> None:
        super().__init__()
        logging.captureWarnings(True)


def logging_config(
    log_format: LogFormat = "text", level: str = "INFO", root_level: str = "WARNING"
) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dictionary: our loggers and uvicorn's, on stderr.

    uvicorn applies it in every worker process it starts (``log_config``); a
    ``logging.basicConfig`` in the parent reaches none of them. Other libraries log at
    ``root_level`` and worse through the root logger, in the same format. ``json`` writes
    each record as one JSON object a line (python-json-logger), with the request's id in
    its scope and uvicorn's access lines taken apart; ``text`` is for people.
    """
    json = log_format == "json"
    handler: dict[str, Any] = {
        "class": "logging.StreamHandler",
        "formatter": log_format,
        "stream": "ext://sys.stderr",
    }
    if json:
        # On the handler, so that records of every logger that propagate to it pass them.
        handler["filters"] = ["request_id", "warnings"]
    return {
        "version": 1,
        "disable_existing_loggers": False,  # module loggers exist before this runs
        "formatters": {log_format: _json_formatter() if json else {"format": TEXT_FORMAT}},
        "filters": {
            "request_id": {"()": f"{__name__}.RequestIdField"},
            "access": {"()": f"{__name__}.AccessFields"},
            "warnings": {"()": f"{__name__}.WarningsLogged"},
        }
        if json
        else {},
        "handlers": {"stderr": handler},
        "loggers": {
            **{name: {"level": level} for name in OUR_LOGGERS},
            # uvicorn.error and uvicorn.access propagate to it; uvicorn sets their levels.
            "uvicorn": {"level": level},
            **({"uvicorn.access": {"filters": ["access"]}} if json else {}),
        },
        "root": {"level": root_level, "handlers": ["stderr"]},
    }


def _json_formatter() -> dict[str, Any]:
    """python-json-logger's formatter, with our field names and an ISO 8601 UTC ``time``."""
    from pythonjsonlogger.core import RESERVED_ATTRS  # only where json is asked for

    return {
        "()": "pythonjsonlogger.json.JsonFormatter",
        # ``time`` is not a record attribute: listed first for its place in the line, it is
        # filled by ``timestamp`` (the record's creation, in UTC, ISO 8601).
        "fmt": ["time", "levelname", "name", "message"],
        "rename_fields": {"levelname": "level", "name": "logger"},
        "timestamp": "time",
        # uvicorn repeats some messages with terminal colours, for its own formatter.
        "reserved_attrs": [*RESERVED_ATTRS, "color_message"],
    }


_TERMINAL_CODES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class LinesLogged(io.TextIOBase):
    """A text stream whose every line becomes an INFO record of ``logger``.

    For what libraries print rather than log (Feast's progress, tqdm's bars): in ``json``
    mode those lines too must be log lines. Colour codes are left out; a bar redrawn with
    ``\\r`` gives a line per drawing.
    """

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self._logger = logger
        self._pending = ""

    def writable(self) -> bool:
        """Yes: it is written to like stdout."""
        return True

    def write(self, text: str) -> int:
        """Log each line ``text`` completes; keep the rest for the next write."""
        *lines, self._pending = re.split(r"[\r\n]", self._pending + text)
        for line in lines:
            self._log(line)
        return len(text)

    def flush(self) -> None:
        """Nothing to do: a line is logged once it ends."""

    def close(self) -> None:
        """Log the last line even if it did not end."""
        self._log(self._pending)
        self._pending = ""
        super().close()

    def _log(self, line: str) -> None:
        line = _TERMINAL_CODES.sub("", line).strip()
        if line:
            self._logger.info("%s", line)


@contextlib.contextmanager
def prints_logged(log_format: LogFormat) -> Iterator[None]:
    """Meanwhile, in ``json`` mode, what is printed on stdout or stderr is logged, a record a
    line (logger ``prints``); in ``text`` mode, it is printed as usual."""
    if log_format != "json":
        yield
        return
    with (
        LinesLogged(logging.getLogger(PRINTS_LOGGER)) as lines,
        contextlib.redirect_stdout(lines),
        contextlib.redirect_stderr(lines),
    ):
        yield


def configure_logging(log_format: LogFormat, root_level: str = "WARNING") -> None:
    """Apply :func:`logging_config` to this process."""
    logging.config.dictConfig(logging_config(log_format, root_level=root_level))
