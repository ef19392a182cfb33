"""The outage bench's table, from runs made up here (the measurement itself is `python -m`)."""

from __future__ import annotations

from bench.outage import OutageRun, Sent, report


def test_the_table_shows_the_latency_and_share_of_503s_during_the_outage() -> None:
    healthy = [Sent(0.0, 0.002, 200), Sent(0.1, 0.004, 200)]
    off = OutageRun("off", healthy, [Sent(1.0, 0.25, 503), Sent(1.1, 0.26, 503)], 0.05)
    on = OutageRun("on", healthy, [Sent(1.0, 0.25, 503), Sent(1.1, 0.002, 503)], None)
    lines = report([off, on], budget_s=0.25, outage_s=5.0).splitlines()
    assert lines[0] == "online store paused for 5 s; request budget 250 ms"
    # breaker, healthy p50 and p99, outage answers, 503 %, p50, p99, max, recovery
    off_row = ["off", "3.0", "4.0", "2", "100.0", "255.0", "259.9", "260.0", "0.05"]
    on_row = ["on", "3.0", "4.0", "2", "100.0", "126.0", "247.5", "250.0", "-"]
    assert lines[2].split() == off_row
    assert lines[3].split() == on_row
