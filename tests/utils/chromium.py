"""Open a page in a real headless Chromium, offline, and read back the DOM it rendered."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

ATTEMPTS = 3
TIMEOUT_S = 60.0


def chromium_binary() -> str:
    """The Chromium the tests drive; fails (never skips) when it is not installed."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("chromium is not installed: run tests/system-packages.sh (needs root or sudo)")


def dump_dom(page: Path) -> str:
    """The DOM Chromium builds from ``page`` (a local file), serialized after load.

    Every host name resolves to nothing, so a page that needed the network would show it.
    Each attempt has its own profile and a bounded wait; a hung browser's whole process group
    is killed before the next attempt.
    """
    binary = chromium_binary()
    failures = []
    for _ in range(ATTEMPTS):
        with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
            command = [
                binary,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--host-resolver-rules=MAP * ~NOTFOUND",
                f"--user-data-dir={profile}",
                "--dump-dom",
                page.resolve().as_uri(),
            ]
            process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            try:
                out, err = process.communicate(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                failures.append(f"no DOM within {TIMEOUT_S:.0f} s")
                continue
            if process.returncode == 0 and "</html>" in out:
                return out
            failures.append(f"exit {process.returncode}: {err.strip()[-500:]}")
    pytest.fail(f"chromium could not render {page}: {failures}")


@dataclass
class Element:
    """A start tag of the rendered DOM and the text directly inside it."""

    tag: str
    attrs: dict[str, str]
    text: str = ""

    @property
    def classes(self) -> set[str]:
        """Its ``class`` attribute, split."""
        return set(self.attrs.get("class", "").split())


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class Dom(HTMLParser):
    """The rendered DOM as a flat list of elements (enough to find rows, links and shapes)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Record the element."""
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.elements.append(element)
        if tag not in VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        """Close the innermost open element of that tag."""
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i].tag == tag:
                del self._open[i:]
                break

    def handle_data(self, data: str) -> None:
        """Add text to every open element (an element's text includes its children's)."""
        for element in self._open:
            element.text += data

    def find(self, tag: str, cls: str | None = None) -> list[Element]:
        """Elements of ``tag`` (with class ``cls``, when given)."""
        return [e for e in self.elements if e.tag == tag and (cls is None or cls in e.classes)]


def rendered(page: Path) -> Dom:
    """``page`` as Chromium rendered it, parsed."""
    dom = Dom()
    dom.feed(dump_dom(page))
    dom.close()
    return dom
