"""Scenario 2: Redis lost and back. Killed under load, no request fails and the breaker opens; restarted on the
same port with the same password, caching resumes within 5 s; a wrong password or a TLS misconfiguration at start
is logged clearly and the service serves uncached."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from local import processes, servers
from tests.reliability.load import Load, describe
from tests.support.figures import Figures
from tests.support.gunicorn import Service, gunicorn, kill, tracking
from tests.support.models import register_sklearn

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

NAME = "rel_redis_lr"
COOLDOWN_S = 1.0
RECOVERY_BOUND_S = 5.0
STARTUP_LINE = "cache unreachable at startup"


@pytest.fixture(scope="module")
def model(mlflow_server: servers.MlflowServer, linear: LinearRegression, features: pd.DataFrame) -> str:
    with tracking(mlflow_server.url):
        return register_sklearn(NAME, linear, features)


def test_redis_killed_under_load_loses_nothing_and_caching_resumes_after_restart(
    mlflow_server: servers.MlflowServer,
    model: str,
    rows: list[dict[str, float]],
    tmp_path: Path,
    figures: Figures,
) -> None:
    port, password = processes.free_port(), secrets.token_urlsafe(24)
    redis = servers.start_redis(tmp_path, port, password=password, name="redis-lost")
    try:
        settings = {"SERVING_CACHE_BREAKER_COOLDOWN_S": str(COOLDOWN_S)}
        with gunicorn(tmp_path / "service", mlflow_server.url, NAME, cache_url=redis.url, settings=settings) as svc:
            svc.wait_workers(2)
            # Few distinct rows: each is cached after its first request, so hits show at once that caching works.
            with Load(svc.url, rows[:16], clients=8, max_seconds=120) as load:
                assert load.wait_for(lambda: svc.metric("serving_cache_hits_total") > 50, 30), "no cache hits"

                kill(redis.process)
                killed_at = load.now()
                assert load.wait_for(lambda: circuit_open(svc), 15), "the breaker did not open"
                opened_after = load.now() - killed_at
                load.run_for(3)  # served uncached for a while
                assert svc.metric("serving_cache_errors_total") > 0

                redis = servers.start_redis(tmp_path, port, password=password, name="redis-lost")
                restarted_at, hits = load.now(), svc.metric("serving_cache_hits_total")
                assert load.wait_for(
                    lambda: not circuit_open(svc) and svc.metric("serving_cache_hits_total") > hits + 10, 30
                ), "caching did not resume"
                resumed_after = load.now() - restarted_at
                load.run_for(1)
    finally:
        redis.stop()

    summary = load.summary()
    figures.record(
        "2_redis_lost",
        **summary,
        breaker_opened_after_s=round(opened_after, 2),
        caching_resumed_after_s=round(resumed_after, 2),
    )
    assert not load.failures(), describe(load.failures())
    assert resumed_after < RECOVERY_BOUND_S, f"caching resumed {resumed_after:.1f}s after Redis came back"


def circuit_open(service: Service) -> bool:
    """The breaker is open in some worker: the metric (max over workers) and /health (one worker) say so."""
    return service.metric("serving_cache_circuit_open") == 1 and service.get("/health").json()["cache"]["circuit"] in (
        "open",
        "half_open",
    )


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.RedisServer]:
    directory = tmp_path_factory.mktemp("redis-tls")
    server = servers.start_redis(
        directory, processes.free_port(), tls=servers.make_tls_files(directory / "tls"), name="redis-tls"
    )
    yield server
    server.stop()


@pytest.mark.parametrize("fault", ["wrong_password", "tls_unknown_ca", "plaintext_to_tls"])
def test_misconfigured_cache_is_logged_at_start_and_the_service_serves_uncached(
    fault: str,
    mlflow_server: servers.MlflowServer,
    redis_server: servers.RedisServer,
    tls_redis: servers.RedisServer,
    model: str,
    rows: list[dict[str, float]],
    tmp_path: Path,
    figures: Figures,
) -> None:
    url = {
        "wrong_password": redis_server.url.replace(redis_server.password, "not-the-password"),
        # rediss:// without SERVING_CACHE_CA_CERT: the server's certificate is signed by a CA the client lacks.
        "tls_unknown_ca": tls_redis.url,
        "plaintext_to_tls": tls_redis.url.replace("rediss://", "redis://"),
    }[fault]
    with gunicorn(tmp_path, mlflow_server.url, NAME, cache_url=url, workers=1) as svc:
        startup = [r for r in svc.log_records() if r["message"].startswith(STARTUP_LINE)]
        answers = [svc.post("/predict", json={"instances": [row]}) for row in rows[:20]]
        health = svc.get("/health").json()
        errors = svc.metric("serving_cache_errors_total")

    assert startup, f"no '{STARTUP_LINE}' line in the log:\n{svc.log_tail()}"
    expected = {"wrong_password": "AuthenticationError", "tls_unknown_ca": "CERTIFICATE_VERIFY_FAILED"}
    if fault in expected:
        assert expected[fault] in startup[0]["error"], startup[0]
    assert [a.status_code for a in answers] == [200] * len(answers), [a.text for a in answers if a.is_error]
    assert health["cache"]["circuit"] in ("open", "half_open")
    assert errors >= 3
    figures.record(
        f"2_redis_misconfigured_{fault}",
        requests=len(answers),
        errors=sum(a.is_error for a in answers),
        logged=startup[0]["error"][:110],
    )
