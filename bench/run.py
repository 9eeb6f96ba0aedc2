"""The benchmark: bring the local stack up, start every target, run the scenarios in alternating order, write
`bench/results/<date>.json` and its chart.

Scenarios (each a set of targets driven with the same wrk load, `rounds` times, the order of the targets reversed
every other round so that a drift of the machine during the run weighs on all of them alike):

- `single_row`: one fixed row per request at `connections` clients: constant endpoint, the service, mlflow serve.
- `batch_1000`: 1000 rows per request (the service's max_batch_rows): the service and mlflow serve.
- `rf_cache`: the RandomForest (300 trees) with the Redis cache on: one fixed row (a hit after the first request)
  against a fresh random row per request (a miss: computed).
- `rf_batching`: the RandomForest at 64 clients, fresh random rows, micro-batching off against on.
- `rf_onnx`: the RandomForest, fresh random rows, through scikit-learn against through ONNX Runtime (the same
  forest registered with its ONNX export).
- `sweep`: the service over the linear model, one row, clients 1..64: the latency curve and CPU used, for sizing.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.load import Body, LoadResult, run_wrk
from bench.targets import Target, start_constant, start_mlflow_serve, start_service

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
RF_CONFIG = HERE / "random_forest_300.yaml"
RF_NAME = "bench_random_forest"
RF_ONNX_NAME = "bench_random_forest_onnx"
LINEAR_NAME = "linear_regression"
SCHEMA_VERSION = 1
SWEEP_CONNECTIONS = (1, 2, 4, 8, 16, 32, 64)

Say = Callable[[str], None]


@dataclass
class Plan:
    """How long each run lasts, how many alternating rounds, how many workers and clients per scenario."""

    duration_s: float = 10.0
    rounds: int = 4
    workers: int = 2
    connections: int = 16
    batch_connections: int = 4
    cache_connections: int = 8
    batching_connections: int = 64
    sweep_duration_s: float = 5.0
    warmup_s: float = 2.0
    smoke: bool = False


@dataclass
class Bench:
    """The targets started so far and the runs made against them."""

    plan: Plan
    state_dir: Path
    say: Say = print
    targets: dict[str, Target] = field(default_factory=dict)
    runs: list[LoadResult] = field(default_factory=list)
    server_info: dict[str, Any] = field(default_factory=dict)

    def load(self, scenario: str, target: str, body: Body, connections: int, duration_s: float, round_no: int) -> None:
        t = self.targets[target]
        before = _system_cpu()
        result = run_wrk(
            t.url,
            body,
            connections=connections,
            duration_s=duration_s,
            scenario=scenario,
            target=target,
            round_no=round_no,
            pids=[t.process.pid],
        )
        result.extra["system_cpu_percent"] = round(_system_cpu_since(before), 1)
        result.extra["loadavg_1m"] = round(os.getloadavg()[0], 2)
        self.runs.append(result)
        lat = result.latency_ms
        self.say(
            f"  {scenario:<12} {target:<22} c={connections:<3} r{round_no} {result.rps:>9.1f} rps "
            f"p50 {lat['p50']:>8.2f} ms  p99 {lat['p99']:>8.2f} ms  errors {result.error_count}  "
            f"cpu {result.cpu_percent:.0f}%"
        )

    def warm(self, target: str, body: Body, connections: int) -> None:
        if self.plan.warmup_s > 0:
            run_wrk(
                self.targets[target].url,
                body,
                connections=connections,
                duration_s=self.plan.warmup_s,
                scenario="warmup",
                target=target,
            )

    def ab(self, scenario: str, legs: Sequence[tuple[str, Body]], connections: int) -> None:
        """Each leg (target, body) once per round; the order reverses every other round."""
        for target, body in legs:
            self.warm(target, body, connections)
        for round_no in range(self.plan.rounds):
            order = list(legs) if round_no % 2 == 0 else list(reversed(legs))
            for target, body in order:
                self.load(scenario, target, body, connections, self.plan.duration_s, round_no)


# ------------------------------------------------------------------------------------------- run


def run(plan: Plan, out_dir: Path = RESULTS, state_dir: Path | None = None, say: Say = print) -> Path:
    """Run the whole benchmark (or, with `plan.smoke`, only the constant target); returns the JSON written."""
    owned = state_dir is None
    state = state_dir or Path(tempfile.mkdtemp(prefix="bench-"))
    bench = Bench(plan, state, say)
    started = datetime.now(UTC)
    machine = _machine()
    stack = None
    onnx: dict[str, Any] = {}
    try:
        if plan.smoke:
            _smoke(bench)
        else:
            stack = _full(bench)
            onnx = _onnx_micro(say)
    finally:
        for target in bench.targets.values():
            target.stop()
        if stack is not None:
            stack.down()
        if owned:
            from local.servers import remove_state

            remove_state(state)
    machine["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    result = {
        "schema": SCHEMA_VERSION,
        "date": started.isoformat(timespec="seconds"),
        "smoke": plan.smoke,
        "plan": plan.__dict__,
        "machine": machine,
        "servers": bench.server_info,
        "runs": [r.as_dict() for r in bench.runs],
        "summary": summarise(bench.runs),
        "targets": [] if plan.smoke else evaluate(summarise(bench.runs), bench.server_info),
        "onnx": onnx,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{started.strftime('%Y-%m-%d')}{'-smoke' if plan.smoke else ''}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    say(f"wrote {path}")
    return path


def _smoke(bench: Bench) -> None:
    plan = bench.plan
    bench.targets["constant"] = start_constant(bench.state_dir, plan.workers)
    body = _fixed_body(bench.state_dir, "one-row", 1)
    bench.ab("single_row", [("constant", body)], plan.connections)
    bench.server_info = {"constant": bench.targets["constant"].describe()}


def _full(bench: Bench) -> Any:
    from local.stack import LocalStack, Ports

    plan, say, state = bench.plan, bench.say, bench.state_dir
    say(f"bench: {plan.workers} workers per target, {plan.duration_s:g} s per run, {plan.rounds} rounds; state {state}")
    stack = LocalStack(state / "stack", ports=Ports.free(), workers=plan.workers, say=lambda s: say("  " + s))
    urls = stack.up()
    mlflow_url = urls["mlflow"]
    # The stack's own service (cache on) is not measured: the targets below are started with their settings.
    for proc in [p for p in stack.started if p.name == "service"]:
        proc.stop()
        stack.started.remove(proc)

    for name, extra in ((RF_NAME, ()), (RF_ONNX_NAME, ("--onnx",))):
        say(f"registering {name} (RandomForestRegressor, 300 trees{', ONNX export' if extra else ''}) with the CLI")
        out = stack.training(mlflow_url, "train", "--config", str(RF_CONFIG), "--model-name", name, *extra)
        version = re.findall(r"registered \S+ version (\d+)", out)[-1]
        stack.training(mlflow_url, "promote", version, "--alias", "production", "--model-name", name)

    w = plan.workers
    say("starting the targets, one at a time, each timed from its spawn")
    t = bench.targets
    t["constant"] = start_constant(state, w)
    t["mlflow"] = start_mlflow_serve(state, w, mlflow_url, f"models:/{LINEAR_NAME}@production")
    t["service"] = start_service("service", state, w, mlflow_url, LINEAR_NAME, describe="the service, linear model")
    rf = {"SERVING_MAX_BATCH_SIZE": "64", "SERVING_MAX_BATCH_LATENCY_MS": "5"}
    t["service-rf"] = start_service("service-rf", state, w, mlflow_url, RF_NAME, describe="RandomForest, batching off")
    t["service-rf-batching"] = start_service(
        "service-rf-batching", state, w, mlflow_url, RF_NAME, {"SERVING_BATCH_ENABLED": "true", **rf},
        describe="RandomForest, batching on",
    )  # fmt: skip
    t["service-rf-cache"] = start_service(
        "service-rf-cache", state, w, mlflow_url, RF_NAME,
        {
            "SERVING_CACHE_ENABLED": "true",
            "SERVING_CACHE_URL_FILE": str(stack.state_dir / "redis-url"),
            "SERVING_CACHE_SIGNING_KEY_FILE": str(stack.state_dir / "cache-signing-key"),
        },
        describe="RandomForest, Redis cache on",
    )  # fmt: skip
    t["service-rf-onnx"] = start_service(
        "service-rf-onnx", state, w, mlflow_url, RF_ONNX_NAME, describe="RandomForest with its ONNX export"
    )
    for name, target in t.items():
        boot = ", ".join(f"{x:.1f}" for x in target.worker_boot_to_ready_s)
        say(f"  {name:<22} up in {target.startup_s:5.2f} s (a worker's own start to its model: {boot or '-'} s)")

    one = _fixed_body(state, "one-row", 1)
    thousand = _fixed_body(state, "thousand-rows", 1000)
    fresh = Body(rows=1, columns=_features())

    say("single row, fixed body")
    bench.ab("single_row", [("constant", one), ("service", one), ("mlflow", one)], plan.connections)
    say("1000 rows per request")
    bench.ab("batch_1000", [("service", thousand), ("mlflow", thousand)], plan.batch_connections)
    say("RandomForest: cache hit (fixed row) against compute (a fresh row per request)")
    bench.ab("rf_cache", [("service-rf-cache", one), ("service-rf", fresh)], plan.cache_connections)
    bench.runs[-2 * plan.rounds :] = _relabel(bench.runs[-2 * plan.rounds :])
    say("RandomForest at 64 clients: micro-batching off against on")
    bench.ab("rf_batching", [("service-rf", fresh), ("service-rf-batching", fresh)], plan.batching_connections)
    say("RandomForest, one fresh row: scikit-learn against ONNX Runtime")
    bench.ab("rf_onnx", [("service-rf", fresh), ("service-rf-onnx", fresh)], plan.connections)
    say("latency curve of the service (linear model, one row)")
    bench.warm("service", one, 8)
    for c in SWEEP_CONNECTIONS:
        bench.load("sweep", "service", one, c, plan.sweep_duration_s, 0)
    # RSS after the load: what a worker holds once it has served.
    bench.server_info = {name: target.describe() for name, target in t.items()}
    return stack


def _relabel(runs: list[LoadResult]) -> list[LoadResult]:
    """In rf_cache the legs are named for what they measure."""
    for r in runs:
        r.target = "cache hit" if r.target == "service-rf-cache" else "compute"
    return runs


def _features() -> tuple[str, ...]:
    from training.data import FEATURES

    return tuple(FEATURES)


def _fixed_body(state: Path, name: str, rows: int) -> Body:
    """`rows` rows of the diabetes data (repeated as needed) as MLflow's dataframe_split."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).data.loc[:, list(_features())]
    data = [frame.iloc[i % len(frame)].tolist() for i in range(rows)]
    path = state / f"{name}.json"
    path.write_text(json.dumps({"dataframe_split": {"columns": list(frame.columns), "data": data}}))
    return Body(rows=rows, path=path)


# --------------------------------------------------------------------------------------- results


def summarise(runs: list[LoadResult]) -> dict[str, dict[str, Any]]:
    """Per scenario and target (and clients, for the sweep): medians over the rounds, errors summed."""
    groups: dict[tuple[str, str, int], list[LoadResult]] = {}
    for r in runs:
        groups.setdefault((r.scenario, r.target, r.connections), []).append(r)
    out: dict[str, dict[str, Any]] = {}
    for (scenario, target, connections), rs in groups.items():
        key = f"{target}@{connections}" if scenario == "sweep" else target
        out.setdefault(scenario, {})[key] = {
            "connections": connections,
            "rounds": len(rs),
            "rps": _median([r.rps for r in rs]),
            "rows_per_s": _median([r.rows_per_s for r in rs]),
            "p50_ms": _median([r.latency_ms["p50"] for r in rs]),
            "p95_ms": _median([r.latency_ms["p95"] for r in rs]),
            "p99_ms": _median([r.latency_ms["p99"] for r in rs]),
            "errors": sum(r.error_count for r in rs),
            "requests": sum(r.requests for r in rs),
            "cpu_percent": _median([r.cpu_percent for r in rs]),
            # Requests per second per core the server actually used: what survives a busy machine, for sizing.
            "rps_per_core": _median([r.rps / (r.cpu_percent / 100) for r in rs])
            if all(r.cpu_percent for r in rs)
            else 0,
            "rps_spread": [min(r.rps for r in rs), max(r.rps for r in rs)],
        }
    return out


def evaluate(summary: dict[str, dict[str, Any]], servers: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue: the measured ratio or value, and whether it is met."""
    single, batch = summary["single_row"], summary["batch_1000"]
    cache, batching = summary["rf_cache"], summary["rf_batching"]
    svc, mlf, const = single["service"], single["mlflow"], single["constant"]
    out = []

    def add(name: str, goal: str, measured: str, met: bool) -> None:
        out.append({"name": name, "goal": goal, "measured": measured, "met": met})

    rps_x = svc["rps"] / mlf["rps"]
    p99_x = mlf["p99_ms"] / svc["p99_ms"]
    add("single-row throughput vs mlflow serve", ">= 20x rps at p99 <= 1/5",
        f"{rps_x:.1f}x rps, p99 {svc['p99_ms']:.1f} ms vs {mlf['p99_ms']:.1f} ms (1/{p99_x:.1f})",
        rps_x >= 20 and p99_x >= 5)  # fmt: skip
    share = svc["rps"] / const["rps"]
    add("share of the constant-endpoint ceiling", ">= 50 %",
        f"{share:.0%} ({svc['rps']:.0f} of {const['rps']:.0f} rps)", share >= 0.5)  # fmt: skip
    rows_x = batch["service"]["rows_per_s"] / batch["mlflow"]["rows_per_s"]
    add("1000-row batches vs mlflow serve", ">= 10x rows/s",
        f"{rows_x:.1f}x ({batch['service']['rows_per_s']:.0f} vs {batch['mlflow']['rows_per_s']:.0f} rows/s)",
        rows_x >= 10)  # fmt: skip
    on, off = batching["service-rf-batching"], batching["service-rf"]
    batch_x = on["rps"] / off["rps"]
    add("micro-batching on the RandomForest at 64 clients", ">= 3x rps, p99 reported",
        f"{batch_x:.1f}x ({on['rps']:.0f} vs {off['rps']:.0f} rps; p99 {on['p99_ms']:.0f} vs {off['p99_ms']:.0f} ms)",
        batch_x >= 3)  # fmt: skip
    hit, compute = cache["cache hit"], cache["compute"]
    cache_x = min(hit["rps"] / compute["rps"], compute["p50_ms"] / hit["p50_ms"])
    add("Redis cache hit vs compute on the RandomForest", ">= 10x faster",
        f"{hit['rps'] / compute['rps']:.1f}x rps, p50 {hit['p50_ms']:.1f} vs {compute['p50_ms']:.1f} ms",
        cache_x >= 10)  # fmt: skip
    sk, ort = summary["rf_onnx"]["service-rf"], summary["rf_onnx"]["service-rf-onnx"]
    onnx_x = ort["rps"] / sk["rps"]
    add("ONNX Runtime path (used whenever it agrees)", "> 1x rps on the RandomForest",
        f"{onnx_x:.1f}x ({ort['rps']:.0f} vs {sk['rps']:.0f} rps; p99 {ort['p99_ms']:.1f} vs {sk['p99_ms']:.0f} ms)",
        onnx_x > 1)  # fmt: skip
    services = {k: v for k, v in servers.items() if k.startswith("service")}
    ready = max(max(s["worker_boot_to_ready_s"] or [s["startup_s"]]) for s in services.values())
    spawn = max(s["startup_s"] for s in services.values())
    rss = max(max(s["rss_per_worker_mb"] or [0.0]) for s in services.values())
    add("worker ready after start (model in the registry)", "<= 5 s",
        f"{ready:.1f} s from a worker's start to its model served (slowest of {len(services)} servers); "
        f"{spawn:.1f} s from spawning Gunicorn", ready <= 5)  # fmt: skip
    add("RSS per worker", "<= 300 MB", f"{rss:.0f} MB (largest service worker, after load)", rss <= 300)
    return out


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def _machine() -> dict[str, Any]:
    model = ""
    try:
        model = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if "model name" in ln
            ),
            "",
        )
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "load_generator": "wrk (bench/post.lua), loopback, on the same cores as the targets",
    }


def _system_cpu() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields), idle


def _system_cpu_since(before: tuple[int, int]) -> float:
    """Busy share of all cores since `before`, in % of one core (so 200 % is two cores fully busy)."""
    total, idle = _system_cpu()
    dt = total - before[0]
    return 0.0 if dt <= 0 else (dt - (idle - before[1])) / dt * 100 * (os.cpu_count() or 1)


def _onnx_micro(say: Say) -> dict[str, Any]:
    """Predict time per call in this process, scikit-learn against ONNX Runtime, for both benchmark models."""
    from bench.onnx_micro import measure

    say("in-process predict: scikit-learn against ONNX Runtime")
    started = time.monotonic()
    result = measure()
    say(f"  done in {time.monotonic() - started:.0f} s")
    return result
