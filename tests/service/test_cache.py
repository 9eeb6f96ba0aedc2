"""The cache fails open: Redis stopped, hung or unverifiable never costs an answer; TLS with a private CA works."""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LinearRegression

from local import processes, servers
from service.core.cache import CircuitBreaker, PredictionCache
from service.metrics import Metrics
from tests.support.models import register_sklearn
from tests.support.serving import cache_settled, metric, serving, settings_for, wait_for

NAME = "svc_cache_lr"
COOLDOWN_S = 0.5


@pytest.fixture(scope="module")
def version(tracking: str, linear: LinearRegression, diabetes: Any) -> str:
    return register_sklearn(NAME, linear, diabetes[0])


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[servers.RedisServer]:
    """A Redis of this test's own, which it may stop, freeze and restart."""
    server = servers.start_redis(tmp_path / "redis-state", processes.free_port())
    yield server
    server.stop()


def ask(client: TestClient, rows: pd.DataFrame) -> tuple[int, list[float]]:
    answer = client.post("/predict", json={"instances": rows.to_dict(orient="records")})
    return answer.status_code, answer.json().get("predictions", [])


def test_redis_stopped_mid_test_still_answers_then_the_cache_comes_back(
    tracking: str, version: str, own_redis: servers.RedisServer, linear: LinearRegression, diabetes: Any, tmp_path: Path
) -> None:
    rows = diabetes[0].head(5)
    expected = linear.predict(rows)
    settings = settings_for(
        tracking, NAME, tmp_path, cache_enabled=True, cache_url=own_redis.url, cache_timeout_s=0.2,
        cache_breaker_failures=1, cache_breaker_cooldown_s=COOLDOWN_S,
    )  # fmt: skip
    with serving(settings) as client:
        status, cached = ask(client, rows)
        assert status == 200
        np.testing.assert_allclose(cached, expected, rtol=1e-12)
        # The answer does not wait for its cache write: one still in flight when Redis stops would fail, open the
        # breaker and leave the request below nothing to count.
        cache_settled(client)

        own_redis.stop()
        errors = metric(client, "serving_cache_errors_total")
        status, answered = ask(client, rows)
        assert status == 200 and answered == cached, "computed by the model while Redis is down"
        assert metric(client, "serving_cache_errors_total") - errors == 1
        health = client.get("/health").json()
        assert health["status"] == "ready" and health["cache"]["circuit"] == "open"
        assert client.get("/health/ready").status_code == 200, "readiness does not depend on Redis"
        assert metric(client, "serving_cache_circuit_open") == 1
        started = time.monotonic()
        for _ in range(5):
            assert ask(client, rows)[0] == 200
        assert metric(client, "serving_cache_errors_total") - errors == 1, "an open breaker leaves Redis alone"
        assert time.monotonic() - started < 2

        restarted = servers.start_redis(tmp_path / "redis-state", own_redis.port, password=own_redis.password)
        try:
            time.sleep(COOLDOWN_S)
            wait_for(
                lambda: ask(client, rows)[0] == 200 and metric(client, "serving_cache_circuit_open") == 0, 5, "closed"
            )
            hits = metric(client, "serving_cache_hits_total")
            ask(client, rows)
            assert metric(client, "serving_cache_hits_total") - hits == 5, "the cache serves again once Redis is back"
        finally:
            restarted.stop()


def test_a_hung_redis_costs_one_short_timeout_not_the_request(
    tracking: str, version: str, own_redis: servers.RedisServer, diabetes: Any, tmp_path: Path
) -> None:
    rows = diabetes[0].head(3)
    settings = settings_for(
        tracking, NAME, tmp_path, cache_enabled=True, cache_url=own_redis.url, cache_timeout_s=0.2,
        cache_breaker_failures=1, cache_breaker_cooldown_s=60,
    )  # fmt: skip
    with serving(settings) as client:
        assert ask(client, rows)[0] == 200
        os.killpg(own_redis.process.pid, signal.SIGSTOP)  # accepts connections, never answers
        try:
            started = time.monotonic()
            assert ask(client, rows)[0] == 200
            assert time.monotonic() - started < 1.5, "bounded by the Redis timeout"
            assert client.get("/health").json()["cache"]["circuit"] == "open"
        finally:
            os.killpg(own_redis.process.pid, signal.SIGCONT)


def test_tls_redis_with_a_private_ca_caches(
    tracking: str, version: str, redis_tls_server: servers.RedisServer, diabetes: Any, tmp_path: Path
) -> None:
    assert redis_tls_server.tls is not None and redis_tls_server.url.startswith("rediss://")
    rows = diabetes[0].sample(4, random_state=secrets.randbelow(1 << 30))
    settings = settings_for(
        tracking, NAME, tmp_path, cache_enabled=True, cache_url_file=_url_file(tmp_path, redis_tls_server.url),
        cache_ca_cert=redis_tls_server.tls.ca_cert, cache_key_prefix=f"tls-{secrets.token_hex(3)}:",
        cache_timeout_s=2.0,  # a TLS handshake on a shared, busy test machine can take longer than 0.1 s
    )  # fmt: skip
    with serving(settings) as client:
        first = ask(client, rows)
        cache_settled(client)
        hits = metric(client, "serving_cache_hits_total")
        assert ask(client, rows) == first
        assert metric(client, "serving_cache_hits_total") - hits == 4
        assert metric(client, "serving_cache_errors_total") == 0


def test_tls_redis_with_an_unknown_ca_fails_open(
    tracking: str, version: str, redis_tls_server: servers.RedisServer, diabetes: Any, tmp_path: Path
) -> None:
    """Without the CA the certificate cannot be verified: no cache, but every request still answered."""
    settings = settings_for(tracking, NAME, tmp_path, cache_enabled=True, cache_url=redis_tls_server.url)
    with serving(settings) as client:
        assert ask(client, diabetes[0].head(2))[0] == 200
        assert metric(client, "serving_cache_errors_total", operation="get") == 1
        assert metric(client, "serving_cache_hits_total") == 0


def _url_file(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "redis-url"
    path.write_text(url + "\n")
    path.chmod(0o600)
    return path


def startup_check(url: str) -> tuple[bool, PredictionCache]:
    cache = PredictionCache.connect(
        url,
        ca_cert=None,
        timeout_s=0.5,
        ttl_s=60,
        key_prefix="",
        breaker=CircuitBreaker(3, 30),
        metrics=Metrics(),
        signing_key=b"k" * 32,
    )

    async def check() -> bool:
        try:
            return await cache.check()
        finally:
            await cache.close()

    return anyio.run(check), cache


def test_startup_check_logs_the_reason_a_cache_is_unreachable(
    redis_server: servers.RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A wrong password is logged when the worker starts, with redis-py's message (its repr() drops it)."""
    ok, _ = startup_check(redis_server.url)
    assert ok
    wrong = redis_server.url.replace(redis_server.password, "wrong-password")
    with caplog.at_level("WARNING", logger="service.core.cache"):
        ok, cache = startup_check(wrong)
    assert not ok
    (record,) = [r for r in caplog.records if r.getMessage().startswith("cache unreachable at startup")]
    assert record.error.startswith("AuthenticationError: invalid username-password pair")  # type: ignore[attr-defined]
    assert cache.metrics.cache_errors.labels(operation="ping")._value.get() == 1


def test_a_value_someone_else_wrote_under_the_services_key_is_a_counted_miss(
    tracking: str, version: str, redis_server: servers.RedisServer, linear: LinearRegression, diabetes: Any,
    tmp_path: Path,
) -> None:  # fmt: skip
    """Before, a non-JSON value gave 500 for that row for the whole TTL, and any JSON number was served."""
    import redis

    from service.core.cache import row_keys

    prefix = f"forged-{secrets.token_hex(3)}:"
    settings = settings_for(tracking, NAME, tmp_path, cache_enabled=True, cache_url=redis_server.url,
                            cache_key_prefix=prefix)  # fmt: skip
    rows = diabetes[0].sample(2, random_state=secrets.randbelow(1 << 30))
    with serving(settings) as client:
        model = client.get("/health").json()["model"]
        model_key = f"{NAME}:{model['version']}:{model['model_uuid']}:{model['flavor']}"
        keys = row_keys(prefix, model_key, rows.to_numpy(dtype="float64"))
        store = redis.Redis.from_url(redis_server.url)
        store.set(keys[0], b"\xff not json", ex=60)
        store.set(keys[1], b"-1.0", ex=60)
        status, answer = ask(client, rows)
        assert status == 200
        np.testing.assert_allclose(answer, linear.predict(rows), rtol=1e-12)
        assert metric(client, "serving_cache_rejected_total", reason="signature") == 2
        cache_settled(client)
        assert ask(client, rows)[1] == answer, "the service's own entries replaced the forged ones"
        assert metric(client, "serving_cache_hits_total") == 2


def test_a_request_costs_one_read_and_one_write_command_whatever_its_rows(
    tracking: str, version: str, redis_server: servers.RedisServer, diabetes: Any, tmp_path: Path
) -> None:
    """Redis counts every command it runs (INFO commandstats, https://redis.io/docs/latest/commands/info/):
    200 rows missed cost one MGET and one script call, not 200 SETs sent one by one down a pipeline (which cost
    the worker 9x the CPU of one command in redis-py)."""
    import redis

    def calls() -> dict[str, int]:
        stats = redis.Redis.from_url(redis_server.url).info("commandstats")
        return {name: int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("mget", "set", "evalsha")}

    settings = settings_for(tracking, NAME, tmp_path, cache_enabled=True, cache_url=redis_server.url,
                            cache_key_prefix=f"one-{secrets.token_hex(3)}:")  # fmt: skip
    rows = diabetes[0].sample(200, random_state=secrets.randbelow(1 << 30))
    with serving(settings) as client:
        ask(client, rows.head(1))  # the script is loaded by the first write
        cache_settled(client)
        before = calls()
        assert ask(client, rows)[0] == 200
        cache_settled(client)
        after = calls()
    assert after["mget"] - before["mget"] == 1
    assert after["evalsha"] - before["evalsha"] == 1
