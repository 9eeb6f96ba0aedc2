"""A bench measurement made up for the tests of bench/'s summaries and targets: one wrk round of one target."""

from __future__ import annotations

from bench.load import LoadResult


def load_result(
    target: str,
    scenario: str,
    rps: float,
    p99: float,
    *,
    rows: int = 1,
    p50: float = 1.0,
    connections: int = 16,
) -> LoadResult:
    """A clean round (no errors) of `rps` requests a second of `rows` rows each, with the given latency tail."""
    return LoadResult(
        scenario=scenario,
        target=target,
        round=0,
        connections=connections,
        rows_per_request=rows,
        body="fixed",
        duration_s=10,
        requests=int(rps * 10),
        rps=rps,
        rows_per_s=rps * rows,
        latency_ms={"p50": p50, "p90": p99, "p95": p99, "p99": p99, "max": p99, "mean": p50},
        errors={"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0},
        cpu_percent=100,
    )
