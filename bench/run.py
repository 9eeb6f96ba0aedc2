"""The benchmark: bring the local stack up, start every target, run the scenarios in alternating order, write
`bench/results/<date>.json` and its chart.

Scenarios (each a set of targets driven with the same wrk load, `rounds` times, the order of the targets reversed
every other round so that a drift of the machine during the run weighs on all of them alike):

- `single_row_w<N>`: one fixed row per request at `connections` clients, every server with N workers (each count of
  `worker_counts` in turn): the bare ASGI and FastAPI constants, the service as `make demo` runs it (cache on) and
  with the cache off, mlflow serve, and the peers of bench/peers.py (MLServer x2, BentoML, LitServe).
- `batch_1000_w<N>`: 1000 rows per request, the same servers but the constants.
- `v2_batch_1000_w<N>`: the same 1000 rows over the Open Inference Protocol: the service (cache off)
  with one binary FP64 tensor (`service-v2-binary`, bench/v2.py) against the same service over JSON
  `/invocations` and MLServer's scikit-learn runtime over JSON V2 (it has no binary extension over REST).
- `pyfunc_single_row`, `pyfunc_batch_1000`: a string-label classifier served through pyfunc, the service against
  mlflow serve.
- `rf_cache`: the RandomForest (300 trees) with the Redis cache on: one fixed row (a hit after the first request)
  against a fresh random row per request (a miss: computed).
- `rf_batching`: the RandomForest at 64 clients, fresh random rows, micro-batching off against on.
- `rf_onnx`: the RandomForest, fresh random rows, through scikit-learn against through ONNX Runtime (the same
  forest registered with its ONNX export).
- `sweep`: the service over the linear model, one row, clients 1..64: the latency curve and CPU used, for sizing.

A server that cannot be installed or started here is recorded under `unavailable` with the reason; its figures
are absent, never made up. `Plan.only` (`python -m bench --only v2`) runs only the scenarios named so, and
starts only the servers and models they need.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.load import Body, LoadResult, run_wrk
from bench.models import IRIS_COLUMNS, export_for_peers, iris_rows, register_classifier, write_body
from bench.peers import PEERS, PeerUnavailable, start_peer
from bench.peers import body as peer_body
from bench.peers import predictions as answer_values
from bench.servers import Target, start_constant, start_mlflow_serve, start_service
from bench.summary import machine_facts, summarise, system_cpu, system_cpu_since
from bench.targets import MLSERVER, V2_BINARY, evaluate
from bench.v2 import write_binary_body
from local.processes import StartError

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
RF_CONFIG = HERE / "random_forest_300.yaml"
RF_NAME = "bench_random_forest"
RF_ONNX_NAME = "bench_random_forest_onnx"
LINEAR_NAME = "linear_regression"
CLASSIFIER_NAME = "bench_iris_classifier"
SCHEMA_VERSION = 2
SWEEP_CONNECTIONS = (1, 2, 4, 8, 16, 32, 64)

Say = Callable[[str], None]


@dataclass
class Plan:
    """How long each run lasts, how many alternating rounds, how many workers and clients per scenario."""

    duration_s: float = 10.0
    rounds: int = 4
    workers: int = 2  # the RandomForest, pyfunc and sweep scenarios
    worker_counts: tuple[int, ...] = (1, 2)  # the service against the peers, each count in turn
    connections: int = 16
    batch_connections: int = 4
    cache_connections: int = 8
    batching_connections: int = 64
    sweep_duration_s: float = 5.0
    warmup_s: float = 2.0
    smoke: bool = False
    only: str = ""  # run only the scenarios whose names start with this ("v2", "rf_", ...); empty: all


@dataclass
class Bench:
    """The targets started so far and the runs made against them."""

    plan: Plan
    state_dir: Path
    say: Say = print
    targets: dict[str, Target] = field(default_factory=dict)
    runs: list[LoadResult] = field(default_factory=list)
    server_info: dict[str, Any] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)  # target -> why it could not be measured here
    # A leg recorded under its own name on another target's server (the service's V2 route beside /invocations).
    aliases: dict[str, str] = field(default_factory=dict)

    def wants(self, scenario: str) -> bool:
        return scenario.startswith(self.plan.only)

    def stop_all(self, suffix: str = "") -> None:
        """Record each target (RSS after its load) and stop it: the next group of servers gets the cores."""
        for name, target in self.targets.items():
            self.server_info[f"{name} ({suffix})" if suffix else name] = target.describe()
            target.stop()
        self.targets.clear()

    def load(self, scenario: str, target: str, body: Body, connections: int, duration_s: float, round_no: int) -> None:
        t = self.targets[self.aliases.get(target, target)]
        before = system_cpu()
        result = run_wrk(
            t.endpoint(body.route),
            body,
            connections=connections,
            duration_s=duration_s,
            scenario=scenario,
            target=target,
            round_no=round_no,
            pids=[t.process.pid],
        )
        result.extra["system_cpu_percent"] = round(system_cpu_since(before), 1)
        # The server's own CPU seconds over the run: a ratio of work per request that a busy machine leaves intact.
        result.extra["server_cpu_s"] = round(result.cpu_percent / 100 * result.duration_s, 2)
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
                self.targets[self.aliases.get(target, target)].endpoint(body.route),
                body,
                connections=connections,
                duration_s=self.plan.warmup_s,
                scenario="warmup",
                target=target,
            )

    def ab(self, scenario: str, legs: Sequence[tuple[str, Body]], connections: int) -> None:
        """Each leg (target, body) once per round; the order reverses every other round."""
        if not self.wants(scenario):
            return
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
    machine = machine_facts()
    stack = None
    onnx: dict[str, Any] = {}
    incomplete = ""
    try:
        if plan.smoke:
            _smoke(bench)
        else:
            stack = _full(bench)
            onnx = _onnx_micro(say) if bench.wants("onnx") else {}
    except Exception as e:  # noqa: BLE001 - what was measured is still written, with the reason it stopped
        if plan.smoke:
            raise
        incomplete = f"{type(e).__name__}: {e}"[:2000]
        say(f"the run stopped early: {incomplete}")
    finally:
        bench.stop_all(suffix="stopped")
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
        "unavailable": bench.unavailable,
        "targets": [] if plan.smoke else evaluate(summarise(bench.runs), bench.server_info, bench.unavailable),
        "onnx": onnx,
        "incomplete": incomplete,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    # A partial run never takes the name of a full one.
    suffix = "-smoke" if plan.smoke else f"-only-{plan.only}" if plan.only else ""
    path = out_dir / f"{started.strftime('%Y-%m-%d')}{suffix}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    say(f"wrote {path}")
    return path


def _smoke(bench: Bench) -> None:
    plan = bench.plan
    bench.targets["constant"] = start_constant(bench.state_dir, plan.workers)
    body = _fixed_body(bench.state_dir, "one-row", 1)
    bench.ab("single_row", [("constant", body)], plan.connections)
    bench.stop_all()


def _full(bench: Bench) -> Any:
    from local.stack import LocalStack, Ports

    plan, say, state = bench.plan, bench.say, bench.state_dir
    say(f"bench: {plan.duration_s:g} s per run, {plan.rounds} rounds, workers {plan.worker_counts}; state {state}")
    stack = LocalStack(state / "stack", ports=Ports.free(), workers=plan.workers, say=lambda s: say("  " + s))
    urls = stack.up()
    mlflow_url = urls["mlflow"]
    # The stack's own service is not measured: the targets below are started with their settings.
    for proc in [p for p in stack.started if p.name == "service"]:
        proc.stop()
        stack.started.remove(proc)
    cache = {
        "SERVING_CACHE_ENABLED": "true",
        "SERVING_CACHE_URL_FILE": str(stack.state_dir / "redis-url"),
        "SERVING_CACHE_SIGNING_KEY_FILE": str(stack.state_dir / "cache-signing-key"),
    }
    # `make demo`'s settings (local/stack.py): the cache on, and the registry polled for a new production version.
    demo = {**cache, "SERVING_RELOAD_INTERVAL_S": str(stack.reload_interval_s)}

    for name, extra in ((RF_NAME, ()), (RF_ONNX_NAME, ("--onnx",))) if bench.wants("rf_") else ():
        say(f"registering {name} (RandomForestRegressor, 300 trees{', ONNX export' if extra else ''}) with the CLI")
        out = stack.training(mlflow_url, "train", "--config", str(RF_CONFIG), "--model-name", name, *extra)
        version = re.findall(r"registered \S+ version (\d+)", out)[-1]
        stack.training(mlflow_url, "promote", version, "--alias", "production", "--model-name", name)
    if bench.wants("pyfunc"):
        say(f"registering {CLASSIFIER_NAME} (LogisticRegression on iris, string labels) through MLflow")
        version = register_classifier(mlflow_url, CLASSIFIER_NAME)
        # Logged with MLflow as a team would; sealed with the CLI so the service's digest check lets it be tried.
        try:
            stack.training(mlflow_url, "seal", version, "--model-name", CLASSIFIER_NAME)
        except StartError as e:
            bench.unavailable["service-pyfunc"] = f"the training CLI could not seal it: {str(e)[-300:]}"
    joblib_model, mlflow_model = export_for_peers(mlflow_url, f"models:/{LINEAR_NAME}@production", state / "peer-model")

    for w in plan.worker_counts:
        peers_at(bench, w, mlflow_url, demo, joblib_model, mlflow_model)
        if w == plan.workers and bench.wants("sweep"):
            say("latency curve of the service (linear model, one row, cache off)")
            one = _fixed_body(state, "one-row", 1)
            bench.warm("service", one, 8)
            for c in SWEEP_CONNECTIONS:
                bench.load("sweep", "service", one, c, plan.sweep_duration_s, 0)
            bench.stop_all(suffix=f"w{w}")
    bench.stop_all(suffix=f"w{plan.workers}")  # when the sweep did not run (only some scenarios)
    if bench.wants("pyfunc"):
        pyfunc_classifier(bench, mlflow_url, demo)
    if bench.wants("rf_"):
        random_forest(bench, mlflow_url, cache)
    return stack


def peers_at(bench: Bench, w: int, mlflow_url: str, demo: dict[str, str], model: Path, mlflow_model: Path) -> None:
    """Single rows and 1000-row batches: the service (cache on, as `make demo`; and off), the peers, mlflow serve,
    the constant endpoints, every one with `w` workers."""
    state, say, t = bench.state_dir, bench.say, bench.targets
    say(f"starting the servers with {w} worker(s), one at a time, each timed from its spawn")
    # The V2 scenario alone needs the service (cache off) and MLServer's scikit-learn runtime only.
    every = bench.wants("single_row") or bench.wants("batch_1000")
    if every:
        t["asgi"] = start_constant(state, w, "asgi", name="asgi")
        t["constant"] = start_constant(state, w, "constant", name="constant")
        t["service-demo"] = start_service(f"service-demo-w{w}", state, w, mlflow_url, LINEAR_NAME, demo,
                                          describe="the service as make demo runs it (Redis cache on)")  # fmt: skip
    t["service"] = start_service(f"service-w{w}", state, w, mlflow_url, LINEAR_NAME, describe="the service, cache off")
    if every:
        t["mlflow"] = start_mlflow_serve(state, w, mlflow_url, f"models:/{LINEAR_NAME}@production", name=f"mlflow-w{w}")
    for peer in PEERS:
        if peer.name in bench.unavailable or not (every or peer.name == MLSERVER):
            continue
        try:
            t[peer.name] = start_peer(peer, state, w, model, mlflow_model, f"{peer.name}-w{w}")
        except PeerUnavailable as e:
            say(f"  {peer.name}: not available here: {e}")
            bench.unavailable[peer.name] = str(e).splitlines()[0][:300]
    for name, target in t.items():
        say(f"  {name:<18} up in {target.startup_s:5.2f} s")
    columns = _features()
    legs: dict[int, list[tuple[str, Body]]] = {}
    for rows in (1, 1000):
        values = _diabetes_rows(rows)
        legs[rows] = []
        for name in t:
            if rows > 1 and name in ("asgi", "constant"):
                continue  # the ceilings are for single rows
            payload = peer_body(name, columns, values)
            legs[rows].append((name, Body(rows=rows, path=write_body(state / f"{name}-{rows}.json", payload))))
    _check_answers(bench, legs[1])
    say(f"single row, fixed body, {w} worker(s)")
    bench.ab(f"single_row_w{w}", legs[1], bench.plan.connections)
    say(f"1000 rows per request, {w} worker(s)")
    bench.ab(f"batch_1000_w{w}", legs[1000], bench.plan.batch_connections)
    if bench.wants(f"v2_batch_1000_w{w}"):
        v2_batches(bench, w, legs[1000])
    if w != bench.plan.workers:
        bench.stop_all(suffix=f"w{w}")


def v2_batches(bench: Bench, w: int, json_legs: list[tuple[str, Body]]) -> None:
    """The Open Inference Protocol scenario: the same 1000 rows as one binary FP64 tensor over V2, against the same
    service over JSON /invocations and MLServer's scikit-learn runtime over JSON V2, at `w` workers."""
    if "service" not in bench.targets:
        return
    route = f"/v2/models/{LINEAR_NAME}/infer"
    binary = write_binary_body(bench.state_dir / "service-v2-binary-1000.bin", _diabetes_rows(1000), route)
    bench.aliases[V2_BINARY] = "service"
    same = {name: body for name, body in json_legs if name in ("service", MLSERVER)}
    _check_v2(bench, binary, same["service"])
    bench.say(f"1000 rows per request over V2 (binary tensor) against JSON /invocations and MLServer, {w} worker(s)")
    bench.ab(f"v2_batch_1000_w{w}", [(V2_BINARY, binary), *same.items()], bench.plan.batch_connections)


def _post(url: str, body: Body) -> Any:
    import urllib.request

    if body.path is None:
        raise ValueError("only a fixed body can be checked")
    headers = {"Content-Type": "application/json", **dict(body.headers)}
    req = urllib.request.Request(url, body.path.read_bytes(), headers)
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback URL built here
        return json.loads(resp.read())


def _check_v2(bench: Bench, binary: Body, invocations: Body) -> None:
    """The binary V2 body must be answered with /invocations' predictions for the same rows, all of them."""
    service = bench.targets["service"]
    [output] = _post(service.endpoint(binary.route), binary)["outputs"]
    v2 = [float(v) for v in output["data"]]
    expected = [float(v) for v in _post(service.url, invocations)["predictions"]]
    if len(v2) != len(expected) or any(abs(a - b) > 1e-6 * max(1.0, abs(b)) for a, b in zip(v2, expected, strict=True)):
        raise RuntimeError(f"V2 binary answers differ from /invocations: {v2[:3]}... vs {expected[:3]}...")
    bench.say(f"  V2 binary and /invocations answer the same {len(v2)} predictions")


def pyfunc_classifier(bench: Bench, mlflow_url: str, demo: dict[str, str]) -> None:
    """The pyfunc scenario: a string-label classifier served through pyfunc, the service against mlflow serve."""
    state, say, t, w = bench.state_dir, bench.say, bench.targets, bench.plan.workers
    say(f"pyfunc classifier ({CLASSIFIER_NAME}): the service against mlflow models serve, {w} workers")
    model_uri = f"models:/{CLASSIFIER_NAME}@production"
    t["mlflow-pyfunc"] = start_mlflow_serve(state, w, mlflow_url, model_uri, name="mlflow-pyfunc")
    if "service-pyfunc" not in bench.unavailable:
        _start_pyfunc_service(bench, mlflow_url, demo)
    for rows, scenario, clients in ((1, "pyfunc_single_row", bench.plan.connections),
                                    (1000, "pyfunc_batch_1000", bench.plan.batch_connections)):  # fmt: skip
        payload = {"dataframe_split": {"columns": list(IRIS_COLUMNS), "data": iris_rows(rows)}}
        body = Body(rows=rows, path=write_body(state / f"iris-{rows}.json", payload))
        bench.ab(scenario, [(name, body) for name in ("service-pyfunc", "mlflow-pyfunc") if name in t], clients)
    bench.stop_all(suffix=f"w{w}")


def random_forest(bench: Bench, mlflow_url: str, cache: dict[str, str]) -> None:
    plan, state, t, w = bench.plan, bench.state_dir, bench.targets, bench.plan.workers
    rf = {"SERVING_MAX_BATCH_SIZE": "64", "SERVING_MAX_BATCH_LATENCY_MS": "5"}
    t["service-rf"] = start_service("service-rf", state, w, mlflow_url, RF_NAME, describe="RandomForest, batching off")
    t["service-rf-batching"] = start_service(
        "service-rf-batching", state, w, mlflow_url, RF_NAME, {"SERVING_BATCH_ENABLED": "true", **rf},
        describe="RandomForest, batching on",
    )  # fmt: skip
    t["service-rf-cache"] = start_service("service-rf-cache", state, w, mlflow_url, RF_NAME, cache,
                                          describe="RandomForest, Redis cache on")  # fmt: skip
    t["service-rf-onnx"] = start_service(
        "service-rf-onnx", state, w, mlflow_url, RF_ONNX_NAME, describe="RandomForest with its ONNX export"
    )
    for name, target in t.items():
        boot = ", ".join(f"{x:.1f}" for x in target.worker_boot_to_ready_s)
        bench.say(f"  {name:<22} up in {target.startup_s:5.2f} s (a worker's own start to its model: {boot or '-'} s)")
    one = _fixed_body(state, "one-row", 1)
    fresh = Body(rows=1, columns=_features())
    bench.say("RandomForest: cache hit (fixed row) against compute (a fresh row per request)")
    bench.ab("rf_cache", [("service-rf-cache", one), ("service-rf", fresh)], plan.cache_connections)
    bench.runs[-2 * plan.rounds :] = _relabel(bench.runs[-2 * plan.rounds :])
    bench.say("RandomForest at 64 clients: micro-batching off against on")
    bench.ab("rf_batching", [("service-rf", fresh), ("service-rf-batching", fresh)], plan.batching_connections)
    bench.say("RandomForest, one fresh row: scikit-learn against ONNX Runtime")
    bench.ab("rf_onnx", [("service-rf", fresh), ("service-rf-onnx", fresh)], plan.connections)
    bench.stop_all(suffix=f"w{w}")


def _start_pyfunc_service(bench: Bench, mlflow_url: str, demo: dict[str, str]) -> None:
    state = bench.state_dir
    try:
        bench.targets["service-pyfunc"] = start_service(
            "service-pyfunc", state, bench.plan.workers, mlflow_url, CLASSIFIER_NAME, demo,
            describe="the service, string-label classifier", timeout=60,
        )  # fmt: skip
    except StartError as e:
        reason = _rejection(state / "bench-service-pyfunc.log", str(e))
        bench.say(f"  the service does not serve {CLASSIFIER_NAME}: {reason}")
        bench.unavailable["service-pyfunc"] = reason


def _check_answers(bench: Bench, legs: list[tuple[str, Body]]) -> None:
    """Every server must answer the same row with the same prediction before its figures mean anything."""
    import urllib.request

    answers = {}
    for name, body in legs:
        if name in ("asgi", "constant") or body.path is None:
            continue
        url = bench.targets[name].url
        req = urllib.request.Request(url, body.path.read_bytes(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback URL built here
            answers[name] = answer_values(name, json.loads(resp.read()))[0]
    expected = answers.get("service")
    wrong = {n: v for n, v in answers.items() if expected is not None and abs(v - expected) > 1e-6 * abs(expected)}
    if wrong:
        raise RuntimeError(f"servers disagree on the same row: service {expected}, {wrong}")
    bench.say("  every server answers the same prediction: " + ", ".join(f"{n} {v:.4f}" for n, v in answers.items()))


def _rejection(log: Path, error: str) -> str:
    """The service's own reason for not serving a model (its log's last load failure), else the start error."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    for line in reversed(lines):
        if '"cannot load' in line or "rejected" in line:
            try:
                return str(json.loads(line).get("message", line))[:400]
            except ValueError:
                return line[:400]
    return error.splitlines()[0][:400]


def _relabel(runs: list[LoadResult]) -> list[LoadResult]:
    """In rf_cache the legs are named for what they measure."""
    for r in runs:
        r.target = "cache hit" if r.target == "service-rf-cache" else "compute"
    return runs


def _features() -> tuple[str, ...]:
    from training.data import FEATURES

    return tuple(FEATURES)


def _diabetes_rows(rows: int) -> list[list[float]]:
    """`rows` rows of the diabetes data, in the model's column order, repeated as needed."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).data.loc[:, list(_features())]
    return [frame.iloc[i % len(frame)].tolist() for i in range(rows)]


def _fixed_body(state: Path, name: str, rows: int) -> Body:
    """`rows` rows of the diabetes data as MLflow's dataframe_split."""
    payload = {"dataframe_split": {"columns": list(_features()), "data": _diabetes_rows(rows)}}
    return Body(rows=rows, path=write_body(state / f"{name}.json", payload))


def _onnx_micro(say: Say) -> dict[str, Any]:
    """Predict time per call in this process, scikit-learn against ONNX Runtime, for both benchmark models."""
    from bench.onnx_micro import measure

    say("in-process predict: scikit-learn against ONNX Runtime")
    started = time.monotonic()
    result = measure()
    say(f"  done in {time.monotonic() - started:.0f} s")
    return result
