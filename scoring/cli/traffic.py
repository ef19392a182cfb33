"""Commands that send traffic: the benchmark, and the simulation of the whole loop."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from scoring.cli.options import settings_from
from scoring.cli.terminal import say


def bench(
    out: Annotated[
        Path, typer.Option(help="Folder for the JSON results (bench-<UTC time>.json).")
    ] = Path("bench-results"),
    quick: Annotated[
        bool, typer.Option("--quick", help="Smaller data and shorter loads (about 3 minutes).")
    ] = False,
) -> None:
    """Measure the service against Feast side by side: throughput, latency, fetch, log, jobs."""
    from bench.run import run_bench

    run_bench(settings_from(), out, quick, say)


class Via(StrEnum):
    """How ``scorer simulate`` sends its transactions."""

    HTTP = "http"
    STREAM = "stream"


def simulate(
    url: Annotated[
        str | None, typer.Option(help="The running service (default http://SCORER_HOST:PORT).")
    ] = None,
    requests: Annotated[int, typer.Option(help="Requests per phase.")] = 3000,
    shift: Annotated[float, typer.Option(help="Drift knob of the second phase.")] = 1.0,
    concurrency: Annotated[int, typer.Option(help="Requests in flight at once.")] = 16,
    feedback_share: Annotated[float, typer.Option(help="Share of requests labelled.")] = 1.0,
    via: Annotated[
        Via,
        typer.Option(
            help="http: POST /score; stream: entries of the request stream (a running "
            "`scorer stream` scores them), results read back from the results stream."
        ),
    ] = Via.HTTP,
    run_jobs: Annotated[
        bool,
        typer.Option(
            "--run-jobs/--no-run-jobs", help="Run the drift job (and retrain) right after."
        ),
    ] = True,
) -> None:
    """Send normal then shifted demo traffic to a running service, and watch the loop react."""
    import time

    import httpx2 as httpx

    from features.store import open_feature_store
    from jobs.demo.data import DemoDataConfig
    from jobs.demo.simulate import check_service
    from jobs.demo.simulate import simulate as run_simulation
    from jobs.runner import JobRunner
    from jobs.triggers import check_job_settings

    settings = settings_from()
    check_job_settings(settings)  # the drift job runs at the end: a bad setting stops it now
    base = url or f"http://{settings.host}:{settings.port}"
    check_service(base)
    store = open_feature_store(settings.feature_repo, settings.online_store)
    send = None
    if via is Via.STREAM:
        from functools import partial

        from jobs.demo.stream_traffic import StreamRoute, send_phase_via_stream

        route = StreamRoute(settings.service_redis_url(), settings.stream_requests,
                            settings.stream_results, settings.stream_dead)  # fmt: skip
        send = partial(send_phase_via_stream, route, base, feedback_share=feedback_share,
                       admin_key=settings.resolved_admin_key())  # fmt: skip
        say(f"sending through {route.requests}, reading {route.results}")
    run_simulation(
        base, store, requests=requests, shift=shift, concurrency=concurrency,
        feedback_share=feedback_share, config=DemoDataConfig(), say=say,
        admin_key=settings.resolved_admin_key(), send=send,
    )  # fmt: skip
    if not run_jobs:
        return
    time.sleep(max(2.0, settings.log_flush_interval_s * 2))  # let the service flush its log
    # The demo's model was trained minutes ago; a scheduled check would hold a retrain back
    # for the cool-down, which would hide the rest of the loop from the person watching.
    say("running the drift job (retrain cool-down off for the simulation)")
    runner_settings = settings.model_copy(update={"retrain_cooldown": "0s"})
    record = JobRunner(runner_settings, say=say).run("drift")
    if record.outcome != "ok":
        raise RuntimeError(f"drift job {record.outcome}: {record.detail}")
    for model, produced in record.produced.items():
        say(f"{model}: action {produced['action']}, drifted {produced['drifted'][:5]}")
        say(f"report: {produced['report_html']}")
        retrained = produced.get("retrain")
        if retrained and retrained["promoted"]:
            version = retrained["candidate_version"]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                served = httpx.get(f"{base}/models/{model}", timeout=5).json()["served_version"]
                if served == version:
                    say(f"{model}: the service now answers with v{version}, no restart")
                    break
                time.sleep(0.5)
