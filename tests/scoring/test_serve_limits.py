"""Hostile clients against a real `scorer serve`: huge and slow bodies, and SIGTERM meanwhile."""

from __future__ import annotations

import select
import signal
import socket
import threading
import time
from pathlib import Path

from scoring.settings import Settings
from tests.utils.server import ServerProcess

CHUNK = b" " * 65_536


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for process {pid}")


def post_chunked(
    port: int, chunks: int, chunk: bytes = CHUNK, pause_s: float = 0.0
) -> tuple[int | None, bytes, float]:
    """POST /score a chunked body, chunk by chunk, until sent or the server answers.

    Returns the status (None when the server closed without answering), the raw answer and
    the seconds it took. Like any client that reads while it sends, it stops sending once an
    answer arrives.
    """
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(
            b"POST /score HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        body_start = b'{"entities": ['
        sock.sendall(b"%x\r\n%s\r\n" % (len(body_start), body_start))
        try:
            for _ in range(chunks):
                if select.select([sock], [], [], pause_s)[0]:
                    break  # the server answered (or closed) before the body was sent
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            else:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while data := sock.recv(65_536):
                answer += data
                head, _, body = answer.partition(b"\r\n\r\n")
                length = [h for h in head.lower().split(b"\r\n") if h.startswith(b"content-length")]
                if length and len(body) >= int(length[0].split(b":")[1]):
                    break
        except ConnectionResetError:
            pass
    status = int(answer.split()[1]) if answer.startswith(b"HTTP/1.1 ") else None
    return status, answer, time.monotonic() - started


def test_an_endless_chunked_body_is_refused_with_memory_bounded(own_settings: Settings) -> None:
    server = ServerProcess(own_settings, workers=1).start()  # one process: the worker itself
    try:
        assert server.process is not None
        before = peak_rss_mb(server.process.pid)
        # 256 MB offered, fifty times the default limit (5 MiB): the server must stop reading.
        status, answer, _ = post_chunked(server.port, chunks=4096)
        after = peak_rss_mb(server.process.pid)
    finally:
        server.stop()
    assert status == 413, answer[:500]
    assert b"application/problem+json" in answer
    assert b"SCORER_MAX_BODY_BYTES" in answer
    assert after - before < 300, f"peak RSS grew from {before:.0f} MB to {after:.0f} MB"


def test_a_body_trickling_past_the_timeout_is_answered_408(own_settings: Settings) -> None:
    env = {"SCORER_BODY_TIMEOUT_S": "2"}
    server = ServerProcess(own_settings, workers=1, extra_env=env).start()
    try:
        # A byte every half second for up to 30 s: slower than the 2 s the body may take.
        status, answer, took = post_chunked(server.port, chunks=60, chunk=b" ", pause_s=0.5)
    finally:
        server.stop()
    assert status == 408, answer[:500]
    assert b"SCORER_BODY_TIMEOUT_S" in answer
    assert b"connection: close" in answer.lower()
    assert took < 15, f"answered after {took:.0f} s"


def seconds_until_closed(
    sock: socket.socket, trickle: bytes, pause_s: float, limit_s: float
) -> float:
    """Send ``trickle`` a byte every ``pause_s`` until the server closes, or ``limit_s``."""
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < limit_s:
        try:
            if select.select([sock], [], [], pause_s)[0] and sock.recv(4096) == b"":
                break
            if trickle:
                sock.sendall(trickle[sent % len(trickle) : sent % len(trickle) + 1])
                sent += 1
        except (BrokenPipeError, ConnectionResetError):
            break
    return time.monotonic() - started


def test_slow_or_missing_headers_do_not_hold_a_connection(own_settings: Settings) -> None:
    env = {"SCORER_HEADER_TIMEOUT_S": "2"}
    server = ServerProcess(own_settings, workers=1, extra_env=env).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as idle:
            # Connects and sends nothing (uvicorn's keep-alive timer is not armed yet).
            took = seconds_until_closed(idle, b"", 0.5, 30)
            assert took < 10, f"an idle connection was held {took:.0f} s"
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as slow:
            # Headers a byte every half second: each byte used to reset uvicorn's only timer.
            slow.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\n")
            took = seconds_until_closed(slow, b"X-Slow: yes\r\n", 0.5, 30)
            assert took < 10, f"a connection trickling its headers was held {took:.0f} s"
        # A client sending at an ordinary pace is not affected.
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as fine:
            for _ in range(2):  # and a keep-alive connection gets the deadline anew
                fine.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")
                answer = b""
                while not answer.endswith(b'{"status":"live"}'):
                    answer += fine.recv(4096)
                assert answer.startswith(b"HTTP/1.1 200")
                time.sleep(1.5)
    finally:
        server.stop()


def test_a_slow_client_does_not_hold_sigterm_past_the_graceful_timeout(
    own_settings: Settings,
) -> None:
    # The body may take a minute: only the graceful timeout (2 s) can end this request.
    env = {"SCORER_SHUTDOWN_TIMEOUT_S": "2", "SCORER_BODY_TIMEOUT_S": "60"}
    server = ServerProcess(own_settings, workers=2, extra_env=env).start()
    trickle = threading.Thread(
        target=post_chunked,
        kwargs={"port": server.port, "chunks": 120, "chunk": b" ", "pause_s": 0.5},
        daemon=True,
    )
    try:
        trickle.start()
        time.sleep(1)  # the request is being read
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert server.wait() == 0
        took = time.monotonic() - started
    finally:
        server.stop()
    assert took < 2 + 10, f"SIGTERM took {took:.0f} s to end the server"


def send_until_answered(port: int, start: bytes, filler: bytes, chunks: int) -> bytes:
    """Send ``start``, then ``filler`` until the server answers or closes; return the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(start)
        try:
            for _ in range(chunks):
                if select.select([sock], [], [], 0)[0]:
                    break  # answered (or closed)
                sock.sendall(filler)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while data := sock.recv(65_536):
                answer += data
        except ConnectionResetError:
            pass
    return answer


def read_answer(sock: socket.socket) -> bytes:
    """One whole answer (headers and a ``Content-Length`` body) from a kept-alive connection."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(65_536)
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )  # fmt: skip
    while len(body) < length:
        body += sock.recv(65_536)
    return head + b"\r\n\r\n" + body


def test_endless_headers_or_url_are_refused_with_memory_bounded(own_settings: Settings) -> None:
    server = ServerProcess(own_settings, workers=1).start()
    try:
        assert server.process is not None
        before = peak_rss_mb(server.process.pid)
        # One header that never ends, then a request line that never ends: 256 MB offered
        # each, four thousand times the limit (64 KiB). httptools would hold all of it.
        headers = send_until_answered(
            server.port, b"GET /health/live HTTP/1.1\r\nHost: t\r\nX-Big: ", CHUNK, 4096
        )
        url = send_until_answered(server.port, b"GET /health/live?q=", b"a" * 65_536, 4096)
        after = peak_rss_mb(server.process.pid)
        # Large bodies are not headers: a 1 MB body on a kept-alive connection is read.
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
            body = b'{"entities": [], "pad": "' + b"x" * 1_000_000 + b'"}'
            for _ in range(2):
                sock.sendall(
                    b"POST /score HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                answer = read_answer(sock)
                assert answer.startswith(b"HTTP/1.1 422"), answer[:300]  # read, then judged
    finally:
        server.stop()
    assert headers.startswith(b"HTTP/1.1 431 "), headers[:300]
    assert url.startswith(b"HTTP/1.1 414 "), url[:300]
    for answer in (headers, url):
        assert b"application/problem+json" in answer
        assert b"SCORER_MAX_HEADER_BYTES" in answer
        assert b"connection: close" in answer.lower()
    assert after - before < 300, f"peak RSS grew from {before:.0f} MB to {after:.0f} MB"
