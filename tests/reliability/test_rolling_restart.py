"""Scenario 5: rolling restarts under load. SIGTERM to a worker and a graceful reload (SIGHUP to the master):
no request fails, in-flight ones are drained (service/worker.py). SIGKILL to a worker: it is replaced and every
request after the replacement succeeds; requests in flight on the killed worker itself can fail (nothing can
answer them once the process is gone), which the figures count."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from local import servers
from tests.reliability.load import Load, describe
from tests.support.figures import Figures
from tests.support.gunicorn import Service, busiest_worker, serving_registered

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

NAME = "rel_rolling_lr"
# Longer than a worker's boot: during a reload the requests wait in the listen backlog for the new workers.
CLIENT_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def service(
    mlflow_server: servers.MlflowServer,
    linear: LinearRegression,
    features: pd.DataFrame,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    state = tmp_path_factory.mktemp("rolling")
    with serving_registered(mlflow_server.url, NAME, linear, features, state) as running:
        yield running


@pytest.mark.parametrize("keepalive", [True, False], ids=["keepalive", "connection_close"])
def test_sigterm_to_a_worker_and_graceful_reload_lose_no_request(
    service: Service, keepalive: bool, rows: list[dict[str, float]], figures: Figures
) -> None:
    with Load(service.url, rows, clients=16, keepalive=keepalive, timeout_s=CLIENT_TIMEOUT_S, max_seconds=240) as load:
        old = service.wait_workers(2)
        load.run_for(1)
        victim, victim_connections = busiest_worker(service, old)
        assert victim_connections > 0
        os.kill(victim, signal.SIGTERM)
        sigterm_at = load.now()
        service.wait_workers(2, exclude={victim})
        replaced_after = load.now() - sigterm_at
        load.run_for(1)

        before_reload = service.wait_workers(2)
        os.kill(service.master_pid, signal.SIGHUP)
        hup_at = load.now()
        service.wait_workers(2, exclude=before_reload)
        reloaded_after = load.now() - hup_at
        load.run_for(1)

    during_reload = load.between(hup_at, hup_at + reloaded_after)
    figures.record(
        f"5_rolling_restart_{'keepalive' if keepalive else 'connection_close'}",
        **load.summary(),
        sigterm_victim_connections=victim_connections,
        sigterm_replaced_after_s=round(replaced_after, 1),
        sighup_replaced_after_s=round(reloaded_after, 1),
        reload_max_latency_s=round(max((o.latency for o in during_reload), default=0.0), 1),
    )
    assert not load.failures(), describe(load.failures())


def test_sigkilled_worker_is_replaced_and_requests_after_replacement_succeed(
    service: Service, rows: list[dict[str, float]], figures: Figures
) -> None:
    with Load(service.url, rows, clients=16, timeout_s=CLIENT_TIMEOUT_S, max_seconds=240) as load:
        old = service.wait_workers(2)
        load.run_for(1)
        victim, victim_connections = busiest_worker(service, old)
        assert victim_connections > 0
        os.kill(victim, signal.SIGKILL)
        killed_at = load.now()
        new = service.wait_workers(2, exclude={victim})
        replaced_at = load.now()
        load.run_for(3)

    assert victim not in new and len(new - old) == 1
    lost = [o for o in load.failures() if o.at < replaced_at]
    after = load.between(replaced_at, load.now())
    figures.record(
        "5_rolling_restart_sigkill",
        **load.summary(),
        victim_connections=victim_connections,
        replaced_after_s=round(replaced_at - killed_at, 1),
        failed_in_flight_on_killed_worker=len(lost),
        requests_after_replacement=len(after),
    )
    assert after and all(o.ok for o in after), describe([o for o in after if not o.ok])
    # What can fail is what the killed worker held: at most one request per client connection.
    assert len(lost) <= 16, describe(lost)
