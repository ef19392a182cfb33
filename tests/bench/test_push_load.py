"""The bodies the push measurement sends: Feast's body, every row a real write."""

from __future__ import annotations

from datetime import datetime

import orjson

from bench.push_load import PUSH_SOURCE, push_bodies
from scoring.web.routes import PushBody


def test_every_body_is_feasts_and_later_than_the_last() -> None:
    customers = list(range(1000, 1250))
    first = [orjson.loads(b) for b in push_bodies(customers, rows=100, pushes=5)]
    second = [orjson.loads(b) for b in push_bodies(customers, rows=100, pushes=5)]
    times = []
    for body in first + second:
        parsed = PushBody.model_validate(body)  # the body our /push takes, field for field
        assert (parsed.push_source_name, parsed.to) == (PUSH_SOURCE, "online")
        df = body["df"]
        assert {len(values) for values in df.values()} == {100}
        assert len(set(df["event_timestamp"])) == 1
        times.append(datetime.fromisoformat(df["event_timestamp"][0]))
    # Strictly later body after body, run after run: Feast's store skips no row as stale.
    assert times == sorted(times)
    assert len(set(times)) == len(times)


def test_the_bodies_of_a_run_sweep_the_customers() -> None:
    customers = list(range(1000, 1250))
    bodies = [orjson.loads(b) for b in push_bodies(customers, rows=100, pushes=5)]
    ids = [i for body in bodies for i in body["df"]["customer_id"]]
    assert ids[:250] == customers  # one row per customer before any customer comes again
    assert ids[250:] == customers[:250]
