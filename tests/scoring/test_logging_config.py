"""The logging set-up of every process, applied in a child process of its own each time."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from typing import Any

from scoring.logging_config import JSON_FIELDS

# Each case logs through the configuration as the service's modules and uvicorn do.
LINES = """
import asyncio, logging, warnings
from scoring.logging_config import REQUEST_ID, configure_logging

configure_logging({log_format!r})
ours = logging.getLogger("scoring.serving.service")
ours.info("outside %s", "any request")
ours.debug("not at this level")
logging.getLogger("feast.some_module").info("a library's info is not shown")

async def serve_one() -> None:
    REQUEST_ID.set("req-1")
    ours.warning("while serving")
    async def shadow() -> None:
        ours.warning("in a task the request started")
    await asyncio.create_task(shadow())

asyncio.run(serve_one())
ours.info("after the request's task")
try:
    1 / 0
except ZeroDivisionError:
    ours.exception("it failed")
access = logging.getLogger("uvicorn.access")
access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "POST", "/score", "1.1", 422)
logging.getLogger("uvicorn.error").info("Started", extra={{"color_message": "\\x1b[32mStarted"}})
warnings.warn("careful", FutureWarning)
"""


def logged(log_format: str) -> str:
    """What the lines above write on stderr with ``log_format`` (nothing goes to stdout)."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(LINES.format(log_format=log_format))],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout == ""
    return done.stderr


def test_json_writes_one_object_a_line_with_the_fields() -> None:
    lines = logged("json").splitlines()
    records: list[dict[str, Any]] = [json.loads(line) for line in lines]
    assert len(records) == 8, lines
    for record in records:
        assert list(record)[: len(JSON_FIELDS)] == list(JSON_FIELDS), record
        when = datetime.fromisoformat(record["time"])
        assert when.utcoffset() == timedelta(0), record  # UTC, and said so
        assert abs((datetime.now(UTC) - when).total_seconds()) < 3600, record
    outside, serving, shadow, after, failed, access, started, warned = records
    assert outside == {**outside, "level": "INFO", "logger": "scoring.serving.service"}
    assert outside["message"] == "outside any request"
    assert "request_id" not in outside
    assert (serving["level"], serving["message"]) == ("WARNING", "while serving")
    assert serving["request_id"] == shadow["request_id"] == "req-1"
    assert "request_id" not in after
    assert failed["level"] == "ERROR"
    assert isinstance(failed["exc_info"], str)
    assert "ZeroDivisionError: division by zero" in failed["exc_info"]
    assert access["logger"] == "uvicorn.access"
    assert access["message"] == '127.0.0.1:5000 - "POST /score HTTP/1.1" 422'
    parts = (access["client"], access["method"], access["path"], access["status"])
    assert parts == ("127.0.0.1:5000", "POST", "/score", 422)
    assert started == {**started, "logger": "uvicorn.error", "message": "Started"}
    assert "color_message" not in started
    assert (warned["logger"], warned["level"]) == ("py.warnings", "WARNING")
    assert "FutureWarning: careful" in warned["message"]


def test_text_stays_as_people_read_it() -> None:
    lines = logged("text").splitlines()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.fullmatch(rf"{stamp} INFO scoring\.serving\.service: outside any request", lines[0])
    assert re.fullmatch(rf"{stamp} WARNING scoring\.serving\.service: while serving", lines[1])
    assert not any(line.startswith("{") or "req-1" in line for line in lines), lines
    assert any(line.startswith("Traceback") for line in lines), "an exception as Python prints it"
    access = rf'{stamp} INFO uvicorn\.access: 127\.0\.0\.1:5000 - "POST /score HTTP/1\.1" 422'
    assert any(re.fullmatch(access, line) for line in lines), lines
    # Warnings are not logging's business in text mode: Python prints them as it always has.
    assert any(re.search(r"FutureWarning: careful$", line) for line in lines), lines
    assert not any("py.warnings" in line for line in lines), lines


PRINTS = """
import sys
from scoring.logging_config import configure_logging, prints_logged

configure_logging({log_format!r})
with prints_logged({log_format!r}):
    print("\\x1b[1mMaterializing\\x1b[0m 3 feature views")
    sys.stderr.write("\\r  0%|    | 0/3")
    sys.stderr.write("\\r100%|####| 3/3\\n")
    print("no newline", end="")
print("the result")
"""


def printed(log_format: str) -> subprocess.CompletedProcess[str]:
    """What a library's prints inside ``prints_logged`` come to, and a result after it."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PRINTS.format(log_format=log_format))],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip


def test_json_logs_what_libraries_print_a_record_a_line() -> None:
    done = printed("json")
    assert done.stdout == "the result\n"
    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert {r["logger"] for r in records} == {"prints"}
    assert [r["message"] for r in records] == [
        "Materializing 3 feature views",
        "0%|    | 0/3",
        "100%|####| 3/3",
        "no newline",
    ]


def test_text_leaves_what_libraries_print_as_it_is() -> None:
    done = printed("text")
    assert done.stdout == "\x1b[1mMaterializing\x1b[0m 3 feature views\nno newlinethe result\n"
    assert done.stderr.splitlines() == ["", "  0%|    | 0/3", "100%|####| 3/3"]
