"""The cache only where it pays: a version whose rows compute faster than a Redis round trip is answered
without asking the cache; a slow one keeps its cache; SERVING_CACHE_MODE forces either way.

The rules first, on the policy alone; then the service over a real Redis and a real MLflow server.
"""

from __future__ import annotations

import math
import secrets
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LinearRegression

from local import servers
from service.core.cachecost import ALPHA, MAX_STEP, CachePolicy, Cost
from tests.support.models import LinearPythonModel, register_pyfunc, register_sklearn
from tests.support.serving import cache_settled, metric, serving, settings_for

FAST, SLOW = "svc_cachepay_fast", "svc_cachepay_slow"
SLOW_S = 0.02


def calibrated(mode: str = "auto", compute: Cost | None = None, cache: Cost | None = None, **kw: Any) -> CachePolicy:
    policy = CachePolicy(mode, **kw)  # type: ignore[arg-type]
    policy.calibrated("k", "m", "1", compute, cache)
    return policy


LINEAR = Cost(fixed=5e-6, per_row=1e-8)  # a linear model: microseconds
FOREST = Cost(fixed=20e-3, per_row=50e-6)  # a forest without ONNX: milliseconds
REDIS = Cost(fixed=300e-6, per_row=3e-6)  # one MGET, keys and checks


def test_a_version_computing_faster_than_a_round_trip_skips_the_cache_but_probes_it() -> None:
    policy = calibrated(compute=LINEAR, cache=REDIS, probe_every=8, probe_interval_s=0.0)
    asked = [policy.use_cache("k", "m", "1", 1) for _ in range(16)]
    assert asked == ([False] * 7 + [True]) * 2, "one request in probe_every keeps the round trip measured"
    assert not policy.use_cache("k", "m", "1", 1000)


def test_under_load_probes_are_spaced_in_time_too() -> None:
    """A probe is a round trip and a write: at thousands of requests a second, one in probe_every would cost a
    cheap model more than its predictions. After probe_every bypasses the next probe waits for probe_interval_s."""
    now = [100.0]
    policy = calibrated(compute=LINEAR, cache=REDIS, probe_every=8, probe_interval_s=0.25, clock=lambda: now[0])
    asked = [policy.use_cache("k", "m", "1", 1) for _ in range(40)]
    assert asked == [False] * 7 + [True] + [False] * 32, "a burst probes once"
    now[0] += 0.25
    assert policy.use_cache("k", "m", "1", 1), "the interval passed and probe_every bypasses with it: a probe"
    assert [policy.use_cache("k", "m", "1", 1) for _ in range(8)] == [False] * 8


def test_a_slow_version_asks_until_its_rows_stop_hitting() -> None:
    policy = calibrated(compute=FOREST, cache=REDIS)
    assert policy.use_cache("k", "m", "1", 1)
    for _ in range(200):
        policy.observe_cache("k", 1, hits=0, seconds=300e-6)
    assert not policy.use_cache("k", "m", "1", 1), "no hit ever: the round trip is paid for nothing"


def test_the_verdict_turns_when_measured_costs_change_and_is_reported_once_per_turn() -> None:
    turns: list[bool] = []
    policy = calibrated(compute=LINEAR, cache=REDIS, on_change=lambda name, version, pays: turns.append(pays))
    assert turns == [False]
    for _ in range(400):  # the model got 1000x slower (a saturated thread pool, a swapped-in predict path)
        policy.observe_compute("k", 1, 5e-3)
    assert policy.use_cache("k", "m", "1", 1)
    assert policy.use_cache("k", "m", "1", 1)
    assert turns == [False, True]


def test_one_stall_moves_an_estimate_by_a_bounded_step() -> None:
    cost = Cost(fixed=1e-5, per_row=0.0)
    cost.observe(1, 0.5)  # a 500 ms GC pause on a 10 µs model
    assert cost.scale == pytest.approx(math.exp(ALPHA * MAX_STEP))
    assert cost.at(1) < 1.1e-5


@pytest.mark.parametrize(("mode", "expected"), [("always", True), ("never", False)])
def test_a_forced_mode_ignores_the_costs(mode: str, expected: bool) -> None:
    for compute in (LINEAR, FOREST):
        policy = calibrated(mode, compute=compute, cache=REDIS)
        assert {policy.use_cache("k", "m", "1", n) for n in (1, 1000) for _ in range(100)} == {expected}


def test_an_unmeasured_version_asks_the_cache_as_before() -> None:
    assert CachePolicy("auto").use_cache("k", "m", "1", 1)


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="cache mode"):
        CachePolicy("sometimes")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ the service


class SlowLinearModel(LinearPythonModel):
    """A model that takes SLOW_S per call, as a forest without ONNX does."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        time.sleep(SLOW_S)
        return super().predict(context, model_input, params)


@pytest.fixture(scope="module")
def versions(tracking: str, linear: LinearRegression, diabetes: Any) -> None:
    features = diabetes[0]
    register_sklearn(FAST, linear, features)
    slow = SlowLinearModel(list(linear.coef_), float(linear.intercept_), list(features.columns))
    register_pyfunc(SLOW, slow, features)


def serve(
    tracking: str, name: str, redis: servers.RedisServer, tmp_path: Path, mode: str
) -> Any:  # a context manager over a TestClient
    return serving(
        settings_for(
            tracking, name, tmp_path, cache_enabled=True, cache_url=redis.url, cache_mode=mode,
            cache_key_prefix=f"pays-{secrets.token_hex(3)}:", allow_pickle_models=True, cache_timeout_s=2.0,
        )
    )  # fmt: skip


def asks(client: TestClient, rows: pd.DataFrame, times: int) -> tuple[float, float]:
    """Send `rows` `times` times; the cache hits and rows looked up (hits + misses) it cost."""
    before = metric(client, "serving_cache_hits_total"), metric(client, "serving_cache_misses_total")
    for _ in range(times):
        answer = client.post("/predict", json={"instances": rows.to_dict(orient="records")})
        assert answer.status_code == 200
        cache_settled(client)
    hits = metric(client, "serving_cache_hits_total") - before[0]
    return hits, hits + metric(client, "serving_cache_misses_total") - before[1]


def verdict(client: TestClient, name: str) -> dict[str, Any]:
    cache = client.get("/health").json()["cache"]
    (entry,) = [v for v in cache["versions"] if v["name"] == name]
    return {"mode": cache["mode"], **entry}


def test_a_slow_model_keeps_its_cache(
    versions: None, tracking: str, redis_server: servers.RedisServer, diabetes: Any, tmp_path: Path
) -> None:
    rows = diabetes[0].head(3)
    with serve(tracking, SLOW, redis_server, tmp_path, "auto") as client:
        state = verdict(client, SLOW)
        assert state["mode"] == "auto" and state["cache_pays"] is True, state
        assert state["compute"]["fixed_s"] > state["cache_round_trip"]["fixed_s"], "measured at load"
        hits, looked_up = asks(client, rows, 3)
        assert (hits, looked_up) == (6, 9), "the first request fills the cache, the next two are answered from it"
        assert metric(client, "serving_cache_pays", name=SLOW) == 1
        assert metric(client, "serving_cache_bypassed_total") == 0


def test_a_fast_model_never_pays_for_redis(
    versions: None, tracking: str, redis_server: servers.RedisServer, diabetes: Any, tmp_path: Path
) -> None:
    rows = diabetes[0].head(3)
    with serve(tracking, FAST, redis_server, tmp_path, "auto") as client:
        state = verdict(client, FAST)
        assert state["cache_pays"] is False, state
        assert asks(client, rows, 5) == (0, 0), "Redis is not asked"
        assert metric(client, "serving_cache_bypassed_total") == 5
        assert metric(client, "serving_cache_pays", name=FAST) == 0


@pytest.mark.parametrize(("name", "mode", "expected"), [(FAST, "always", (6, 9)), (SLOW, "never", (0, 0))])
def test_a_forced_mode_holds(
    versions: None,
    tracking: str,
    redis_server: servers.RedisServer,
    diabetes: Any,
    tmp_path: Path,
    name: str,
    mode: str,
    expected: tuple[int, int],
) -> None:
    with serve(tracking, name, redis_server, tmp_path, mode) as client:
        assert verdict_mode(client) == mode
        assert asks(client, diabetes[0].head(3), 3) == expected
        assert metric(client, "serving_cache_bypassed_total") == 0, "a forced mode is not a bypass for cost"


def verdict_mode(client: TestClient) -> str:
    return str(client.get("/health").json()["cache"]["mode"])
