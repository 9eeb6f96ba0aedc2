"""The prediction cache's rules, without a server: what it serves, what it keys on, how it fails and writes,
and the circuit breaker in front of Redis.

Redis is replaced by an in-memory stand-in with the two calls the cache makes (MGET, the SET script), so each
test can put arbitrary bytes under a key, make a call hang or fail, and hold a write in flight.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from service.core.cache import CircuitBreaker, PredictionCache, row_keys
from service.core.loader import LoadedModel
from service.core.predict import predict
from service.core.schema import Column, InputSchema
from service.metrics import Metrics
from service.settings import Settings

KEY = b"s" * 32


class FakeRedis:
    def __init__(self) -> None:
        self.store: dict[str, bytes] = {}
        self.mget_error: BaseException | None = None
        self.mget_gate: asyncio.Event | None = None
        self.set_gate: asyncio.Event | None = None

    async def mget(self, keys: list[str]) -> list[bytes | None]:
        if self.mget_gate is not None:
            await self.mget_gate.wait()
        if self.mget_error is not None:
            raise self.mget_error
        return [self.store.get(k) for k in keys]

    def register_script(self, script: str) -> FakeSetAll:
        return FakeSetAll(self)

    async def aclose(self) -> None:
        pass


class FakeSetAll:
    """The cache's one write command: SET every key to its value with the TTL (service/core/cache.py SET_ALL)."""

    def __init__(self, redis: FakeRedis) -> None:
        self.redis = redis

    async def __call__(self, keys: list[str], args: list[Any]) -> int:
        if self.redis.set_gate is not None:
            await self.redis.set_gate.wait()
        self.redis.store.update(zip(keys, args[1:], strict=True))
        return len(keys)


class Doubler:
    def __init__(self) -> None:
        self.calls = 0

    def predict(self, rows: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        self.calls += 1
        return np.asarray(rows[:, 0] * 2.0)


def model(uid: str = "uuid-1", version: str = "1", flavor: str = "sklearn") -> LoadedModel:
    return LoadedModel(
        name="m",
        version=version,
        alias="production",
        run_id="run",
        flavor=flavor,
        schema=InputSchema((Column("a", "double"), Column("b", "double"))),
        predictor=Doubler(),
        output_shape=(),
        directory=Path("/nonexistent"),
        load_seconds=0.0,
        uid=uid,
    )


def cache_over(redis: FakeRedis, breaker: CircuitBreaker | None = None, max_pending: int = 64) -> PredictionCache:
    return PredictionCache(
        redis,  # type: ignore[arg-type]
        ttl_s=60,
        key_prefix="t:",
        breaker=breaker or CircuitBreaker(3, 30),
        metrics=Metrics(),
        signing_key=KEY,
        max_pending_sets=max_pending,
    )


ROWS = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])


def rejected(cache: PredictionCache, reason: str) -> float:
    return float(cache.metrics.cache_rejected.labels(reason=reason)._value.get())


def test_values_the_service_did_not_write_are_counted_misses_and_the_model_answers() -> None:
    """Non-JSON bytes (a 500 for the whole TTL before) and a plausible unsigned number (served before) alike."""
    redis, m = FakeRedis(), model()
    cache = cache_over(redis)
    keys = cache.keys(m.cache_key, ROWS)
    redis.store[keys[0]] = b"\xff not json"
    redis.store[keys[1]] = b"123.0"

    async def main() -> list[Any]:
        result = await predict(m, ROWS, cache, offload_min_rows=1000)
        await cache.drain()
        return result.values

    assert asyncio.run(main()) == [2.0, 4.0, 6.0]
    assert rejected(cache, "signature") == 2
    assert cache.metrics.cache_hits._value.get() == 0


def test_a_signed_value_is_served_only_under_its_own_key_and_with_the_models_shape() -> None:
    redis, m = FakeRedis(), model()
    cache = cache_over(redis)
    keys = cache.keys(m.cache_key, ROWS)
    redis.store[keys[0]] = cache.seal(keys[0], 99.0)  # genuine: served
    redis.store[keys[1]] = cache.seal(keys[0], 99.0)  # genuine bytes moved to another key
    redis.store[keys[2]] = cache.seal(keys[2], [1.0, 2.0])  # signed, but not one row's output of this model

    async def main() -> list[Any]:
        return (await predict(m, ROWS, cache, offload_min_rows=1000)).values

    assert asyncio.run(main()) == [99.0, 4.0, 6.0]
    assert rejected(cache, "signature") == 1 and rejected(cache, "shape") == 1


def test_entries_are_keyed_on_the_versions_uuid_and_predict_path_not_its_number() -> None:
    """MLflow numbers a new version max(existing versions) + 1 (mlflow/store/model_registry/sqlalchemy_store.py
    @v3.17.2, `create_model_version`): after a registered model is deleted and created again, versions start
    at 1 again, and the new version 1 must not read the old one's answers."""
    redis = FakeRedis()
    cache = cache_over(redis)
    old, recreated, onnx = model("uuid-old"), model("uuid-new"), model("uuid-old", flavor="onnx")
    assert len({cache.keys(m.cache_key, ROWS)[0] for m in (old, recreated, onnx)}) == 3

    async def main() -> int:
        await predict(old, ROWS, cache, offload_min_rows=1000)
        await cache.drain()
        return (await predict(recreated, ROWS, cache, offload_min_rows=1000)).cache_hits

    assert asyncio.run(main()) == 0


def test_the_answer_does_not_wait_for_the_cache_write_and_writes_in_flight_are_bounded() -> None:
    redis, m = FakeRedis(), model()
    redis.set_gate = asyncio.Event()
    cache = cache_over(redis, max_pending=1)

    async def main() -> tuple[list[Any], int]:
        first = await asyncio.wait_for(predict(m, ROWS[:1], cache, offload_min_rows=1000), 1.0)
        await predict(m, ROWS[1:2], cache, offload_min_rows=1000)  # one write is in flight: this one is dropped
        pending = len(cache._pending)
        assert redis.set_gate is not None
        redis.set_gate.set()
        await cache.drain()
        return first.values, pending

    values, pending = asyncio.run(main())
    assert values == [2.0] and pending == 1
    assert cache.metrics.cache_sets_dropped._value.get() == 1
    assert len(redis.store) == 1


def test_non_finite_values_are_never_stored() -> None:
    cache = cache_over(FakeRedis())

    async def main() -> int:
        cache.put_many({"a": float("inf"), "b": float("nan"), "c": None}, ())
        return len(cache._pending)

    assert asyncio.run(main()) == 0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def half_open() -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=5, clock=clock)
    breaker.record_failure()
    clock.now += 5
    assert breaker.state == "half_open"
    return breaker, clock


def test_a_cancelled_trial_call_releases_the_half_open_breaker() -> None:
    breaker, _ = half_open()
    redis = FakeRedis()
    redis.mget_gate = asyncio.Event()
    cache = cache_over(redis, breaker)

    async def main() -> None:
        trial = asyncio.ensure_future(cache.get_many(["k"], ()))
        await asyncio.sleep(0.01)
        trial.cancel()
        with pytest.raises(asyncio.CancelledError):
            await trial

    asyncio.run(main())
    assert breaker.allow(), "the next call may try Redis again"


def test_a_trial_that_fails_unexpectedly_counts_as_a_failure_and_the_request_is_answered() -> None:
    breaker, clock = half_open()
    redis = FakeRedis()
    redis.mget_error = ValueError("a reply redis-py could not parse")
    cache = cache_over(redis)
    cache.breaker = breaker

    assert asyncio.run(cache.get_many(["k"], ())) == [None]
    assert breaker.state == "open"
    clock.now += 5
    assert breaker.allow()


def test_a_trial_that_never_reports_expires_after_a_cooldown() -> None:
    breaker, clock = half_open()
    assert breaker.allow() and not breaker.allow()
    clock.now += 5
    assert breaker.allow(), "a lost trial does not keep the cache off until restart"


def test_a_ca_certificate_with_a_plaintext_redis_url_is_refused(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-")
    with pytest.raises(ValidationError, match="SERVING_CACHE_CA_CERT is set but SERVING_CACHE_URL is not rediss://"):
        Settings(registry_uri="http://m", cache_url="redis://:t@h:6379/0", cache_ca_cert=ca)
    with pytest.raises(ValueError, match="not rediss://"):
        PredictionCache.connect(
            "redis://:t@h:6379/0", ca_cert=ca, timeout_s=1, ttl_s=1, key_prefix="", breaker=CircuitBreaker(1, 1),
            metrics=Metrics(), signing_key=KEY,
        )  # fmt: skip


def test_the_cache_needs_a_signing_key_of_its_own() -> None:
    with pytest.raises(ValidationError, match="SERVING_CACHE_SIGNING_KEY"):
        Settings(registry_uri="http://m", cache_enabled=True, cache_url="rediss://h:6379/0")
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(registry_uri="http://m", cache_enabled=True, cache_url="rediss://h:6379/0", cache_signing_key="short")


def test_breaker_opens_after_the_threshold_then_lets_one_trial_through_after_the_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=5, clock=clock)
    breaker.record_failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.2
    assert breaker.state == "half_open"
    assert breaker.allow(), "one trial call after the cool-down"
    assert not breaker.allow(), "only one trial at a time"
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow(), "a failed trial opens it for another cool-down"
    clock.now += 5
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


def test_a_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=5, clock=Clock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"


def test_cache_keys_depend_on_the_normalised_row_model_identity_and_prefix() -> None:
    rows = np.array([[1.0, -0.0, 2.5], [1.0, 0.0, 2.5], [1.0, 0.0, 2.6]])
    keys = row_keys("pr-7:", "lr:3:uuid-a:sklearn", rows)
    assert keys[0] == keys[1], "-0.0 and 0.0 are the same input"
    assert keys[0] != keys[2]
    assert keys[0].startswith("pr-7:pred:lr:3:uuid-a:sklearn:")
    assert row_keys("pr-7:", "lr:4:uuid-b:sklearn", rows)[0] != keys[0], "a new version never reads the old one's"
    assert row_keys("pr-7:", "other:3:uuid-c:sklearn", rows)[0] != keys[0]
    assert row_keys("", "lr:3:uuid-a:sklearn", rows)[0] != keys[0]
