"""The README block a results file turns into: the servers side by side, each target next to its figure."""

from __future__ import annotations

from typing import Any

from bench import report
from bench.summary import summarise
from bench.targets import evaluate
from tests.bench.test_targets import SERVERS, runs


def results(**kw: Any) -> dict[str, Any]:
    unavailable = kw.pop("unavailable", {})
    summary = summarise(runs(**kw))
    return {
        "date": "2026-12-06T06:10:00+00:00",
        "plan": {
            "duration_s": 5,
            "rounds": 3,
            "workers": 2,
            "worker_counts": [1, 2],
            "connections": 16,
            "batch_connections": 4,
        },  # fmt: skip
        "machine": {"cpus": 2, "cpu_model": "AMD EPYC", "loadavg_before": [3.1], "loadavg_after": [4.2]},
        "servers": SERVERS,
        "runs": [],
        "summary": summary,
        "unavailable": unavailable,
        "targets": evaluate(summary, SERVERS, unavailable),
    }


def test_the_servers_stand_side_by_side_with_the_services_lead_over_each() -> None:
    block = report.table(results(), "bench/results/x.png")
    # service-demo 4000 rps vs mlserver-sklearn 1000 rps; the service's 60 000 rows/s vs its 5 000 rows/s.
    assert "| mlserver-sklearn | 1,000 | 20.0 | 100 | 1,000 | 4.00x | 5,000 | 12.00x |" in block
    assert block.count("| server | requests/s | p99 ms |") == 2, "one table per worker count"
    assert "shared machine" in block


def test_each_target_stands_next_to_its_figure_and_verdict() -> None:
    block = report.table(results(demo_rps=1400), "x.png")
    line = next(ln for ln in block.splitlines() if ln.startswith("| single row vs mlflow serve, 2 workers |"))
    assert "14.0x (1,400 vs 100 rps)" in line and "**missed by 53% (47% of the goal)**" in line


def test_a_peer_that_could_not_run_is_listed_with_its_reason_and_no_figure() -> None:
    why = {"bentoml": "installing bentoml failed: resolution impossible"}
    block = report.table(results(drop=("bentoml",), unavailable=why), "x.png")
    assert "- `bentoml`: installing bentoml failed: resolution impossible" in block
    assert not any(ln.startswith("| bentoml |") for ln in block.splitlines())
