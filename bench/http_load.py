"""The HTTP figures: saturation throughput (wrk), open-loop latency and 1000-entity ``/score``.

The servers are loaded one at a time while the others idle, in interleaved rounds, so that
noise from a shared machine lands on every server alike and the ratios stay fair. Every other
round runs them in reverse order: going first (after a longer idle) is not the same for all.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx2 as httpx
import orjson

from bench.config import BenchConfig
from bench.openloop import LoadPlan, run_load_process
from bench.servers import ServerProcess
from bench.wrk import WrkRun, run_wrk, wrk_script

Say = Callable[[str], None]
Entity = Mapping[str, Any]


@dataclass(frozen=True)
class Subject:
    """A server under load and the requests it gets: one entity per request."""

    key: str
    label: str
    server: ServerProcess
    path: str
    bodies: list[bytes]

    @property
    def url(self) -> str:
        """Where the load goes."""
        return self.server.url + self.path


def score_bodies(model: str, entities: Sequence[Entity]) -> list[bytes]:
    """``POST /score`` bodies, one entity each."""
    return [orjson.dumps({"model": model, "entities": [dict(e)]}) for e in entities]


def feast_bodies(feature_service: str, entities: Sequence[Entity]) -> list[bytes]:
    """``POST /get-online-features`` bodies of ``feast serve``, one entity each."""
    return [
        orjson.dumps(
            {
                "feature_service": feature_service,
                "entities": {key: [value] for key, value in e.items()},
                "full_feature_names": True,
            }
        )
        for e in entities
    ]


def check_answers(ours: Subject, feast: Subject, features: Sequence[str]) -> dict[str, Any]:
    """One request to each server: both answer 200 with the model's features, or we stop."""
    body = orjson.loads(ours.bodies[0])
    body["include_features"] = True
    answer = httpx.post(ours.url, json=body, timeout=10)
    if answer.status_code != 200:
        raise RuntimeError(f"{ours.label} answered {answer.status_code}: {answer.text[:500]}")
    served = sorted(answer.json()["predictions"][0]["features"])
    theirs = httpx.post(
        feast.url, content=feast.bodies[0], headers={"Content-Type": "application/json"}, timeout=10
    )
    if theirs.status_code != 200:
        raise RuntimeError(f"{feast.label} answered {theirs.status_code}: {theirs.text[:500]}")
    reply = theirs.json()
    names = reply["metadata"]["feature_names"]
    statuses = dict(zip(names, reply["results"], strict=True))
    missing = sorted(set(features) - set(names))
    if missing or served != sorted(features):
        raise RuntimeError(
            f"the servers do not serve the model's features: feast lacks {missing}, "
            f"ours serves {served}"
        )
    present = sum(statuses[name]["statuses"][0] == "PRESENT" for name in features)
    return {"features": len(features), "feast_present": present}


def canary_share(subject: Subject, requests: int = 400) -> float:
    """Share of ``subject``'s first bodies answered by another version than the champion's.

    Its model has a canary: the share shows that the split is on (near the canary's weight,
    by the entity hash), or stops the run when a request fails.
    """
    with httpx.Client(timeout=10) as client:
        champion = client.get(f"{subject.server.url}/models/{_model(subject)}").json()
        aliases = champion["aliases"]
        other = 0
        bodies = subject.bodies[:requests]
        for body in bodies:
            answer = client.post(
                subject.url, content=body, headers={"Content-Type": "application/json"}
            )
            if answer.status_code != 200:
                raise RuntimeError(
                    f"{subject.label} answered {answer.status_code}: {answer.text[:500]}"
                )
            other += answer.json()["version"] != aliases["champion"]
    return other / len(bodies)


def _model(subject: Subject) -> str:
    name: str = orjson.loads(subject.bodies[0])["model"]
    return name


def _mean(runs: Sequence[Mapping[str, Any]], pick: Callable[[Mapping[str, Any]], float]) -> float:
    return statistics.fmean(pick(run) for run in runs)


def round_order(subjects: Sequence[Subject], round_index: int) -> list[Subject]:
    """The order of a saturation round: as given, then reversed, and so on."""
    return list(subjects) if round_index % 2 == 0 else list(reversed(subjects))


def saturation(
    subjects: Sequence[Subject], config: BenchConfig, scripts_dir: Path, say: Say
) -> dict[str, Any]:
    """wrk against each subject in interleaved rounds, each in the reverse order of the last.

    Means over the rounds. Subjects given side by side stay side by side in every round, so
    the log-on and log-off runs of our service see the same moment of the machine.
    """
    scripts = {}
    for subject in subjects:
        scripts[subject.key] = scripts_dir / f"{subject.key}.lua"
        scripts[subject.key].write_text(wrk_script(subject.bodies))
    wrk_runs = {
        subject.key: WrkRun(
            subject.url,
            scripts[subject.key],
            threads=config.wrk_threads,
            connections=config.wrk_connections,
            duration_s=config.wrk_duration_s,
        )
        for subject in subjects
    }
    # Every server warms up before any measured run: otherwise the first measured run shares
    # the machine with servers still settling, and came out up to 18% low in some runs.
    for subject in subjects:
        say(f"wrk warm-up: {subject.label}")
        run_wrk(replace(wrk_runs[subject.key], duration_s=config.wrk_warmup_s))
    runs: dict[str, list[dict[str, Any]]] = {s.key: [] for s in subjects}
    for round_index in range(config.rounds):
        for subject in round_order(subjects, round_index):
            run = wrk_runs[subject.key]
            say(f"wrk round {round_index + 1}/{config.rounds}: {subject.label}")
            run_wrk(replace(run, duration_s=min(2.0, config.wrk_warmup_s)))  # after idling
            result = run_wrk(run)
            say(
                f"  {result['rps']:,.0f} req/s, p99 {result['latency']['p99_ms']:.1f} ms, "
                f"non-2xx {result['non_2xx']}, socket errors {result['socket_errors']}"
            )
            runs[subject.key].append(result)
    summary: dict[str, Any] = {}
    for key, done in runs.items():
        summary[key] = {
            "rps": _mean(done, lambda r: r["rps"]),
            "p50_ms": _mean(done, lambda r: r["latency"]["p50_ms"]),
            "p99_ms": _mean(done, lambda r: r["latency"]["p99_ms"]),
            "non_2xx": sum(r["non_2xx"] for r in done),
            "socket_errors": sum(r["socket_errors"] for r in done),
            "requests": sum(r["requests"] for r in done),
            "runs": done,
        }
    return summary


def open_loop(
    subjects: Sequence[Subject], config: BenchConfig, work: Path, say: Say
) -> dict[str, dict[str, Any]]:
    """Fixed-rate load at each of ``config.open_rates`` against each subject."""
    results: dict[str, dict[str, Any]] = {s.key: {} for s in subjects}
    for rate in config.open_rates:
        for subject in subjects:
            say(f"open loop {rate:g} req/s: {subject.label}")
            plan = LoadPlan(
                url=subject.url,
                bodies=subject.bodies,
                rate=rate,
                duration_s=config.open_duration_s,
                connections=config.open_connections,
                warmup_s=config.open_warmup_s,
            )
            result = run_load_process(plan, work / f"bodies-{subject.key}.jsonl")
            latency = result["latency"]
            say(
                f"  p50 {_ms(latency['p50_ms'])}, p99 {_ms(latency['p99_ms'])}, "
                f"max {_ms(latency['max_ms'])}, errors {result['errors'] + result['non_2xx']}"
            )
            results[subject.key][f"{rate:g}"] = result
    return results


def score_batch(
    subject: Subject, entities: Sequence[Entity], model: str, config: BenchConfig, work: Path
) -> dict[str, Any]:
    """``POST /score`` with ``len(entities)`` rows, one request at a time at a slow fixed rate."""
    body = orjson.dumps({"model": model, "entities": [dict(e) for e in entities]})
    plan = LoadPlan(
        url=subject.url,
        bodies=[body],
        rate=config.batch_rate,
        duration_s=config.batch_requests / config.batch_rate,
        connections=1,
        warmup_s=3 / config.batch_rate,
        timeout_s=10.0,
    )
    result = run_load_process(plan, work / "bodies-batch.jsonl")
    result["entities"] = len(entities)
    return result


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"
