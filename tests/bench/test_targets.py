"""The performance targets as bench/targets.py judges them: met, missed by how much, or not measured (never met)."""

from __future__ import annotations

from typing import Any

from bench.summary import summarise
from bench.targets import evaluate
from tests.support.bench import load_result

PEERS = {"mlflow": 100.0, "mlserver-sklearn": 1000.0, "mlserver-mlflow": 500.0, "bentoml": 800.0, "litserve": 900.0}


def runs(demo_rps: float = 4000, demo_p99: float = 5, batch_rps: float = 60, drop: tuple[str, ...] = ()) -> list[Any]:
    out = []
    for w in (1, 2):
        out += [load_result("service-demo", f"single_row_w{w}", demo_rps, demo_p99),
                load_result("constant", f"single_row_w{w}", 5000, 2),
                load_result("service", f"batch_1000_w{w}", batch_rps, 50, rows=1000)]  # fmt: skip
        for peer, rps in PEERS.items():
            if peer not in drop:
                out.append(load_result(peer, f"single_row_w{w}", rps, 100 if peer == "mlflow" else 20))
                out.append(load_result(peer, f"batch_1000_w{w}", rps / 200, 500, rows=1000))
    out += [
        load_result("service-rf", "rf_batching", 100, 900),
        load_result("service-rf-batching", "rf_batching", 500, 90),
        load_result("cache hit", "rf_cache", 2000, 5, p50=2),
        load_result("compute", "rf_cache", 60, 200, p50=100),
        load_result("service-rf", "rf_onnx", 60, 200),
        load_result("service-rf-onnx", "rf_onnx", 1800, 20),
    ]
    return out


SERVERS = {
    "service-demo (w2)": {"startup_s": 4.0, "worker_boot_to_ready_s": [2.5, 2.9], "rss_per_worker_mb": [180.0]},
    "mlflow (w2)": {"startup_s": 9.0, "worker_boot_to_ready_s": [], "rss_per_worker_mb": [400.0, 410.0]},
}


def verdicts(**kw: Any) -> dict[str, dict[str, Any]]:
    unavailable = kw.pop("unavailable", {})
    servers = kw.pop("servers", SERVERS)
    return {t["name"]: t for t in evaluate(summarise(runs(**kw)), servers, unavailable)}


def test_every_performance_target_is_judged_at_each_worker_count() -> None:
    got = verdicts()
    assert all(t["met"] for t in got.values()), {n: t["measured"] for n, t in got.items() if not t["met"]}
    for w in ("1 worker", "2 workers"):
        for name in ("single row vs mlflow serve", "single-row p99 vs mlflow serve",
                     "single row vs MLServer's scikit-learn runtime",
                     "share of the FastAPI read+decode constant endpoint", "ahead of every peer on single rows",
                     "1000-row batches vs mlflow serve", "ahead of every peer on 1000-row batches"):  # fmt: skip
            assert f"{name}, {w}" in got
    lost = (
        "worker ready after start (model in the registry)",
        "RSS per worker",
        "micro-batching on the RandomForest at 64 clients",
        "Redis cache hit vs a miss on the RandomForest",
    )
    assert set(lost) <= set(got)
    assert got["single row vs mlflow serve, 2 workers"]["measured"].startswith("40.0x")


def test_a_shortfall_says_by_how_much() -> None:
    got = verdicts(demo_rps=1400, demo_p99=20)  # 14x mlflow, 28 % of the constant, 1.4x MLServer
    t = got["single row vs mlflow serve, 1 worker"]
    assert t["met"] is False and t["verdict"] == "missed by 53% (47% of the goal)"
    assert got["single-row p99 vs mlflow serve, 1 worker"]["verdict"] == "missed by 50% (50% of the goal)"
    assert got["single row vs MLServer's scikit-learn runtime, 1 worker"]["met"] is False
    assert got["share of the FastAPI read+decode constant endpoint, 1 worker"]["measured"].startswith("28%")
    assert got["ahead of every peer on single rows, 1 worker"]["met"] is True  # 1.4x the closest peer


def test_a_limit_overrun_says_by_how_much() -> None:
    slow = {"service-rf (w2)": {"startup_s": 7.0, "worker_boot_to_ready_s": [6.0], "rss_per_worker_mb": [330.0]}}
    got = verdicts(servers=slow)
    assert got["worker ready after start (model in the registry)"]["verdict"] == "missed by 20% (over the limit)"
    assert got["RSS per worker"]["verdict"] == "missed by 10% (over the limit)"


def test_ahead_of_every_peer_is_judged_on_the_closest_and_states_every_ratio() -> None:
    got = verdicts(demo_rps=950)
    t = got["ahead of every peer on single rows, 2 workers"]
    assert t["met"] is False and "(closest: mlserver-sklearn)" in t["measured"]
    assert "litserve 1.1x" in t["measured"] and "mlflow 9.5x" in t["measured"]


def test_a_peer_that_could_not_run_is_not_measured_never_met() -> None:
    why = {"mlserver-sklearn": "installing mlserver failed: no wheel for this Python"}
    got = verdicts(drop=("mlserver-sklearn",), unavailable=why)
    t = got["single row vs MLServer's scikit-learn runtime, 2 workers"]
    assert t["met"] is None and t["value"] is None and t["verdict"] == "not measured"
    assert "no wheel for this Python" in t["measured"]
    ahead = got["ahead of every peer on single rows, 2 workers"]
    assert ahead["met"] is True and "mlserver-sklearn" not in ahead["measured"].split(";")[0]
    assert "no wheel" in ahead["measured"], "the absent peer is named in the verdict"


def test_a_server_that_answered_nothing_gives_no_ratio() -> None:
    got = verdicts(batch_rps=0)
    t = got["1000-row batches vs mlflow serve, 1 worker"]
    assert t["met"] is None and "no run of service" in t["measured"]


def test_a_random_forest_leg_that_completed_nothing_is_not_measured() -> None:
    """A server too slow to finish one request in a short run has 0 requests/s: no ratio, no crash."""
    measured = [r for r in runs() if not (r.scenario == "rf_batching" and r.target == "service-rf")]
    measured.append(load_result("service-rf", "rf_batching", 0, 0))
    got = {t["name"]: t for t in evaluate(summarise(measured), SERVERS, {})}
    assert got["micro-batching on the RandomForest at 64 clients"]["met"] is None
