"""Scenario 1: 30 s at 64 concurrent clients (wrk) against Gunicorn with 2 workers: every request answered 2xx,
no worker replaced, and no worker's resident memory growing by 10 % or more."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from local import servers
from tests.reliability.load import wrk
from tests.support.figures import Figures
from tests.support.gunicorn import gunicorn, rss_kb, tracking
from tests.support.models import register_sklearn

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

NAME = "rel_sustained_lr"
SECONDS = 30
CLIENTS = 64
WARMUP_S = 5


def test_sustained_load_answers_every_request_and_workers_do_not_grow(
    mlflow_server: servers.MlflowServer,
    redis_server: servers.RedisServer,
    linear: LinearRegression,
    features: pd.DataFrame,
    rows: list[dict[str, float]],
    tmp_path: Path,
    figures: Figures,
) -> None:
    with tracking(mlflow_server.url):
        register_sklearn(NAME, linear, features)
    with gunicorn(tmp_path / "service", mlflow_server.url, NAME, cache_url=redis_server.url) as service:
        workers = service.wait_workers(2)
        # Warm-up first: first predictions and the cache's first pass allocate, and that is not a leak.
        warmup = wrk(service.url, rows, clients=CLIENTS, seconds=WARMUP_S, script_dir=tmp_path)
        before = {pid: rss_kb(pid) for pid in workers}
        load = wrk(service.url, rows, clients=CLIENTS, seconds=SECONDS, script_dir=tmp_path)
        after = {pid: rss_kb(pid) for pid in workers}
        still = service.worker_pids()
        hits = service.metric("serving_cache_hits_total")

    growth = {pid: (after[pid] - before[pid]) / before[pid] for pid in workers}
    figures.record(
        "1_sustained_load",
        **load,
        clients=CLIENTS,
        seconds=SECONDS,
        workers=2,
        rss_mb=sorted(round(kb / 1024) for kb in after.values()),
        rss_growth_pct=round(100 * max(growth.values()), 2),
    )
    assert warmup["errors"] == 0, warmup
    assert load["requests"] > 5 * SECONDS, f"the load barely ran: {load}"
    assert load["errors"] == 0, f"non-2xx answers or socket errors under load: {load}"
    assert still == workers, "a worker was replaced under load"
    assert hits > 0, "the cache answered nothing: the load did not exercise it"
    assert max(growth.values()) < 0.10, f"worker RSS grew by {growth} (KiB before {before}, after {after})"
