"""The performance targets (ratios from one run), each judged from a run's medians: met, or missed
by how much. A target whose figures are missing (a peer that could not be installed or started here) is stated
as not measured, with the reason, never as met.

Single rows are judged on the service as `make demo` runs it (`service-demo`: Redis cache on, so a fixed body is
a cache hit); 1000-row batches on the service with the cache off (`service`), so a batch is computed, not read
back from Redis. Each worker count of the run is judged on its own: peers at the same workers.

Over the Open Inference Protocol: 1000-row batches over V2 with a binary tensor (`service-v2-binary`) at >= 3x
the rows/s of the same batches over JSON `/invocations` (`service`), and ahead of MLServer's V2 (JSON: it has no
binary extension over REST), all three in the same `v2_batch_1000_w<N>` runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

DEMO, COMPUTED, CONSTANT, MLFLOW, MLSERVER = "service-demo", "service", "constant", "mlflow", "mlserver-sklearn"
V2_BINARY = "service-v2-binary"  # the service (cache off) at its V2 infer route, one binary FP64 tensor
PEER_NAMES = (MLFLOW, "mlserver-sklearn", "mlserver-mlflow", "bentoml", "litserve")

Summary = Mapping[str, Mapping[str, Mapping[str, Any]]]


@dataclass(frozen=True)
class Verdict:
    name: str
    goal: str
    measured: str
    value: float | None  # the figure compared with the threshold (a ratio, seconds, MB)
    threshold: float
    at_most: bool  # the figure must stay at or under the threshold (else: reach it)
    met: bool | None  # None: not measured

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "not measured"
        if self.met:
            return "met"
        if self.at_most:
            return f"missed by {self.value / self.threshold - 1:.0%} (over the limit)"
        return f"missed by {1 - self.value / self.threshold:.0%} ({self.value / self.threshold:.0%} of the goal)"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


def judge(name: str, goal: str, value: float | None, threshold: float, measured: str, at_most: bool = False) -> Verdict:
    met = None if value is None else (value <= threshold if at_most else value >= threshold)
    return Verdict(name, goal, measured, None if value is None else round(value, 3), threshold, at_most, met)


def worker_counts(summary: Summary) -> list[int]:
    return sorted(int(k.rsplit("_w", 1)[1]) for k in summary if k.startswith("single_row_w"))


def _row(summary: Summary, scenario: str, target: str) -> Mapping[str, Any] | None:
    """A target's medians, or None when it was not run or answered nothing (no ratio can be taken of it)."""
    row = summary.get(scenario, {}).get(target)
    return row if row and row["rps"] > 0 else None


def _missing(unavailable: Mapping[str, str], *names: str) -> str:
    why = [f"{n}: {unavailable[n]}" for n in names if n in unavailable]
    return "not measured (" + ("; ".join(why) if why else "no run of " + ", ".join(names)) + ")"


def evaluate(summary: Summary, servers: Mapping[str, Any], unavailable: Mapping[str, str] | None = None) -> list[Any]:
    """Every performance target (and the ONNX path's check) as dicts for the results file."""
    gone = unavailable or {}
    out: list[Verdict] = []
    for w in worker_counts(summary):
        out += _single_row(summary, f"single_row_w{w}", w, gone)
        out += _batches(summary, f"batch_1000_w{w}", w, gone)
    for w in sorted(int(k.rsplit("_w", 1)[1]) for k in summary if k.startswith("v2_batch_1000_w")):
        out += _v2(summary, f"v2_batch_1000_w{w}", w, gone)
    out += _nothing_lost(summary, servers, gone)
    return [v.as_dict() for v in out]


def _ratio(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None, figure: str) -> float | None:
    return a[figure] / b[figure] if a and b and b[figure] > 0 else None


def _at(w: int) -> str:
    return f"{w} worker{'s' if w > 1 else ''}"


def _single_row(summary: Summary, scenario: str, w: int, gone: Mapping[str, str]) -> list[Verdict]:
    svc, mlf = _row(summary, scenario, DEMO), _row(summary, scenario, MLFLOW)
    ml, const = _row(summary, scenario, MLSERVER), _row(summary, scenario, CONSTANT)
    x, p99 = _ratio(svc, mlf, "rps"), _ratio(mlf, svc, "p99_ms")
    ml_x, share = _ratio(svc, ml, "rps"), _ratio(svc, const, "rps")
    why = _missing(gone, DEMO, MLFLOW)
    return [
        judge(f"single row vs mlflow serve, {_at(w)}", ">= 30x requests/s", x, 30,
              why if svc is None or mlf is None else f"{x:.1f}x ({svc['rps']:,.0f} vs {mlf['rps']:,.0f} rps)"),
        judge(f"single-row p99 vs mlflow serve, {_at(w)}", "<= 1/10 of its p99", p99, 10,
              why if svc is None or mlf is None else f"1/{p99:.1f} ({svc['p99_ms']:.1f} vs {mlf['p99_ms']:.1f} ms)"),
        judge(f"single row vs MLServer's scikit-learn runtime, {_at(w)}", ">= 3x requests/s", ml_x, 3,
              _missing(gone, DEMO, MLSERVER) if svc is None or ml is None
              else f"{ml_x:.1f}x ({svc['rps']:,.0f} vs {ml['rps']:,.0f} rps)"),
        judge(f"share of the FastAPI read+decode constant endpoint, {_at(w)}", ">= 75 %", share, 0.75,
              _missing(gone, DEMO, CONSTANT) if svc is None or const is None
              else f"{share:.0%} ({svc['rps']:,.0f} of {const['rps']:,.0f} rps)"),
        _ahead(summary, scenario, DEMO, "rps", f"ahead of every peer on single rows, {_at(w)}", gone),
    ]  # fmt: skip


def _batches(summary: Summary, scenario: str, w: int, gone: Mapping[str, str]) -> list[Verdict]:
    svc, mlf = _row(summary, scenario, COMPUTED), _row(summary, scenario, MLFLOW)
    x = _ratio(svc, mlf, "rows_per_s")
    return [
        judge(f"1000-row batches vs mlflow serve, {_at(w)}", ">= 10x rows/s", x, 10,
              _missing(gone, COMPUTED, MLFLOW) if svc is None or mlf is None
              else f"{x:.1f}x ({svc['rows_per_s']:,.0f} vs {mlf['rows_per_s']:,.0f} rows/s)"),
        _ahead(summary, scenario, COMPUTED, "rows_per_s", f"ahead of every peer on 1000-row batches, {_at(w)}", gone),
    ]  # fmt: skip


def _v2(summary: Summary, scenario: str, w: int, gone: Mapping[str, str]) -> list[Verdict]:
    binary, invocations, ml = (_row(summary, scenario, n) for n in (V2_BINARY, COMPUTED, MLSERVER))
    x, ml_x = _ratio(binary, invocations, "rows_per_s"), _ratio(binary, ml, "rows_per_s")
    ahead = judge(f"1000-row batches, V2 binary vs MLServer's V2 (JSON), {_at(w)}", "> 1x rows/s", ml_x, 1,
                  _missing(gone, V2_BINARY, MLSERVER) if binary is None or ml is None
                  else f"{ml_x:.1f}x ({binary['rows_per_s']:,.0f} vs {ml['rows_per_s']:,.0f} rows/s)")  # fmt: skip
    return [
        judge(f"1000-row batches, V2 binary vs JSON /invocations, {_at(w)}", ">= 3x rows/s", x, 3,
              _missing(gone, V2_BINARY, COMPUTED) if binary is None or invocations is None
              else f"{x:.1f}x ({binary['rows_per_s']:,.0f} vs {invocations['rows_per_s']:,.0f} rows/s)"),
        # Ahead means strictly more: a tie is not ahead.
        Verdict(ahead.name, ahead.goal, ahead.measured, ahead.value, 1, False, None if ml_x is None else ml_x > 1),
    ]  # fmt: skip


def _ahead(summary: Summary, scenario: str, ours: str, figure: str, name: str, gone: Mapping[str, str]) -> Verdict:
    """The service's figure over each peer's; judged on the closest peer, every ratio stated."""
    svc = _row(summary, scenario, ours)
    goal = f"> 1x every peer ({'rows/s' if figure == 'rows_per_s' else 'requests/s'})"
    ratios = {p: r for p in PEER_NAMES if (r := _ratio(svc, _row(summary, scenario, p), figure)) is not None}
    absent = [p for p in PEER_NAMES if p not in ratios]
    if svc is None or not ratios:
        return judge(name, goal, None, 1, _missing(gone, ours, *absent))
    closest = min(ratios, key=ratios.__getitem__)
    stated = ", ".join(f"{p} {r:.1f}x" for p, r in ratios.items()) + f" (closest: {closest})"
    if absent:
        stated += "; " + _missing(gone, *absent)
    value = ratios[closest]
    return Verdict(name, goal, stated, round(value, 3), 1, False, value > 1)


def _nothing_lost(summary: Summary, servers: Mapping[str, Any], gone: Mapping[str, str]) -> list[Verdict]:
    out = []
    services = {k: v for k, v in servers.items() if k.startswith("service")}
    if services:
        ready = max(max(s["worker_boot_to_ready_s"] or [s["startup_s"]]) for s in services.values())
        rss = max(max(s["rss_per_worker_mb"] or [0.0]) for s in services.values())
        out += [
            judge("worker ready after start (model in the registry)", "<= 5 s", ready, 5,
                  f"{ready:.1f} s from a worker's start to its model served (slowest of {len(services)} servers)",
                  at_most=True),
            judge("RSS per worker", "<= 300 MB", rss, 300, f"{rss:.0f} MB (largest service worker, after load)",
                  at_most=True),
        ]  # fmt: skip
    on, off = _row(summary, "rf_batching", "service-rf-batching"), _row(summary, "rf_batching", "service-rf")
    hit, miss = _row(summary, "rf_cache", "cache hit"), _row(summary, "rf_cache", "compute")
    sk, ort = _row(summary, "rf_onnx", "service-rf"), _row(summary, "rf_onnx", "service-rf-onnx")
    x, onnx_x = _ratio(on, off, "rps"), _ratio(ort, sk, "rps")
    hit_x, p50_x = _ratio(hit, miss, "rps"), _ratio(miss, hit, "p50_ms")
    cache_x = None if hit_x is None or p50_x is None else min(hit_x, p50_x)
    out += [
        judge("micro-batching on the RandomForest at 64 clients", ">= 4x requests/s", x, 4,
              _missing(gone, "service-rf-batching") if on is None or off is None
              else f"{x:.1f}x ({on['rps']:,.0f} vs {off['rps']:,.0f} rps; p99 {on['p99_ms']:.0f} vs "
              f"{off['p99_ms']:.0f} ms)"),
        judge("Redis cache hit vs a miss on the RandomForest", ">= 10x (requests/s and p50)", cache_x, 10,
              _missing(gone, "service-rf-cache") if hit is None or miss is None
              else f"{hit_x:.1f}x rps, p50 {hit['p50_ms']:.1f} vs {miss['p50_ms']:.1f} ms"),
        judge("ONNX Runtime path on the RandomForest (checked, not a target)", "> 1x requests/s", onnx_x, 1.0001,
              _missing(gone, "service-rf-onnx") if sk is None or ort is None
              else f"{onnx_x:.1f}x ({ort['rps']:,.0f} vs {sk['rps']:,.0f} rps)"),
    ]  # fmt: skip
    return out
