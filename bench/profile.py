"""`python -m bench profile` (`make profile`): where a worker's CPU goes per request, sampled by py-spy under load.

The local stack comes up on free ports (MLflow, Redis, as `make bench` brings it), then for each path the service
starts with one worker as the bench starts it (bench/servers.py), takes a short warm-up, and is driven by wrk on
loopback for `--duration` seconds while `py-spy record --format raw` samples its worker: its running threads (a
thread in a system call counts, the event loop waiting for the network does not), or with `--gil` only the thread
holding the GIL, which is what bounds a worker's Python throughput when batches run in worker threads. Each
sampled stack is given to one stage (`stage_of`: BOOKKEEPING wherever it is on the stack, else the innermost
frame of WORK); `http` is uvicorn, asyncio, Starlette and FastAPI, the socket writes included. Per path it
prints the requests/s seen under the profiler and each stage's share, and writes both, with the raw stacks,
under `--out`.

Paths (PATHS): the single row of the bench's `single_row` scenario (dataframe_split on /invocations) as `make demo`
runs the service (cache on, auto) and with the cache off, the same row on /predict, the 1000-row body of
`batch_1000`, and the binary FP64 tensor of `v2_batch_1000`.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load import Body, run_wrk, workers
from bench.models import write_body
from bench.run import LINEAR_NAME, _diabetes_rows, _features
from bench.servers import Target, start_service
from bench.v2 import write_binary_body
from local.processes import VENV_BIN

Stages = tuple[tuple[str, re.Pattern[str]], ...]


def _stages(**patterns: str) -> Stages:
    """(stage, pattern over one frame `function (file:line)`), in the order given."""
    return tuple((stage, re.compile(pattern)) for stage, pattern in patterns.items())


# A stage of BOOKKEEPING names a sample wherever its frame is on the stack (the metrics a cache lookup counts are
# metrics; the input check the drift window makes is drift), the first of them in this order; otherwise the
# innermost frame that matches a stage of WORK does.
BOOKKEEPING = _stages(
    metrics=r"\((prometheus_client/|service/metrics\.py)",
    logging=r"\((logging/|service/logs\.py)",
    drift=r"\(service/core/drift\.py",
    cache=r"\((redis/|service/core/cache(cost)?\.py)",
)
WORK = _stages(
    model=r"\((sklearn/|scipy/|threadpoolctl|service/core/(predictors|onnx)\.py)",
    variants=r"\(service/core/(variants|split|shadow)\.py",
    decode=r"\(service/core/(inputs|fastdecode|validation|schema|params|tensors|binary)\.py",
    encode=r"\(service/core/outputs\.py|^render \(",
    lane=r"\(service/(fastlane|dataplane|middleware|responses|v2/\w+)\.py|\(service/core/predict\.py",
    http=r"\((uvicorn/|h11/|httptools|asyncio/|starlette/|fastapi/|anyio/)|uvloop",
)


@dataclass(frozen=True)
class ProfiledPath:
    """One profiled path: the service's settings, the body and how many clients send it."""

    settings: str  # "demo" (cache on, as make demo) or "off" (cache off)
    rows: int
    route: str
    kind: str  # "dataframe_split", "inputs" (/predict) or "v2-binary"
    connections: int


PATHS = {
    "single-demo": ProfiledPath("demo", 1, "/invocations", "dataframe_split", 16),
    "single-nocache": ProfiledPath("off", 1, "/invocations", "dataframe_split", 16),
    "predict-demo": ProfiledPath("demo", 1, "/predict", "inputs", 16),
    "predict-nocache": ProfiledPath("off", 1, "/predict", "inputs", 16),
    "batch-1000": ProfiledPath("off", 1000, "/invocations", "dataframe_split", 4),
    "v2-binary-1000": ProfiledPath("off", 1000, f"/v2/models/{LINEAR_NAME}/infer", "v2-binary", 4),
}


def stage_of(stack: list[str]) -> str:
    """The stage a sampled stack (frames root first) is counted under."""
    for stage, pattern in BOOKKEEPING:
        if any(pattern.search(frame) for frame in stack):
            return stage
    for frame in reversed(stack):
        for stage, pattern in WORK:
            if pattern.search(frame):
                return stage
    return "other"


def shares(raw: str) -> tuple[dict[str, float], int]:
    """Each stage's share of the samples in py-spy's raw (collapsed) output, and the number of samples."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        # Frames root first (`--nonblocking` may cut a stack short at the root: it is still counted by its leaf).
        counts[stage_of(stack.split(";"))] += int(n)
    total = sum(counts.values())
    return {k: round(v / total, 3) for k, v in counts.most_common()} if total else {}, total


def body_for(path: ProfiledPath, out: Path, name: str) -> Body:
    rows = _diabetes_rows(path.rows)
    if path.kind == "v2-binary":
        return write_binary_body(out / f"{name}.bin", rows, path.route)
    payload: dict[str, Any] = (
        {"inputs": rows} if path.kind == "inputs" else {"dataframe_split": {"columns": list(_features()), "data": rows}}
    )
    return Body(rows=path.rows, path=write_body(out / f"{name}.json", payload), route=path.route)


def profile(
    target: Target, name: str, path: ProfiledPath, out: Path, duration_s: float, rate: int, gil: bool = False
) -> dict[str, Any]:
    """wrk against `target` for `duration_s` while py-spy samples its one worker; the shares by stage. `gil`: only
    the thread holding the GIL is sampled (where Python time goes when batches run in worker threads)."""
    body = body_for(path, out, name)
    url = target.endpoint(body.route)
    run_wrk(url, body, connections=path.connections, duration_s=2, scenario="warmup", target=name)
    [worker] = workers(target.process.pid)
    raw_file = out / f"{name}.raw.txt"
    extra = ["--gil"] if gil else []
    spy = subprocess.Popen(
        [str(VENV_BIN / "py-spy"), "record", "--pid", str(worker), "--rate", str(rate), "--format", "raw",
         "--duration", f"{duration_s:g}", "--output", str(raw_file), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(0.3)  # py-spy attaches before the load starts
    load = run_wrk(url, body, connections=path.connections, duration_s=duration_s, scenario=name, target=name)
    _, err = spy.communicate(timeout=duration_s + 60)
    if spy.returncode != 0 or not raw_file.exists():
        raise RuntimeError(f"py-spy failed on pid {worker}: {err.decode(errors='replace')[-1000:]}")
    by_stage, samples = shares(raw_file.read_text())
    return {
        "route": path.route,
        "rows": path.rows,
        "connections": path.connections,
        "settings": path.settings,
        "rps_under_profiler": load.rps,
        "p99_ms": load.latency_ms["p99"],
        "samples": samples,
        "shares": by_stage,
    }


def run(
    names: list[str], out: Path, duration_s: float, rate: int, mlflow_url: str, cache: dict[str, str], gil: bool = False
) -> Any:
    """Profile each named path against a running stack (`mlflow_url`, the cache settings of `make demo`)."""
    results: dict[str, Any] = {}
    for name in names:
        path = PATHS[name]
        settings = cache if path.settings == "demo" else {}
        target = start_service(f"profile-{name}", out, 1, mlflow_url, LINEAR_NAME, settings)
        try:
            results[name] = profile(target, name, path, out, duration_s, rate, gil)
        finally:
            target.stop()
        r = results[name]
        stages = "  ".join(f"{k} {v:.0%}" for k, v in r["shares"].items())
        print(f"{name:<16} {r['rps_under_profiler']:>8.0f} req/s  {r['samples']:>5} samples  {stages}", flush=True)
    (out / "profile.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help=f"the paths to profile, of {', '.join(PATHS)} (default all)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load under the profiler")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--out", type=Path, default=None, help="where the raw stacks and profile.json go")
    parser.add_argument("--gil", action="store_true", help="sample only the thread holding the GIL (py-spy --gil)")
    opts = parser.parse_args(argv)
    if unknown := [p for p in opts.paths if p not in PATHS]:
        parser.error(f"unknown paths {unknown}: choose among {', '.join(PATHS)}")
    from local.stack import LocalStack, Ports

    out = opts.out or Path(tempfile.mkdtemp(prefix="profile-"))
    out.mkdir(parents=True, exist_ok=True)
    stack = LocalStack(out / "stack", ports=Ports.free(), workers=1, say=lambda s: print("  " + s))
    try:
        urls = stack.up()
        for proc in [p for p in stack.started if p.name == "service"]:
            proc.stop()  # the profiled services are started with their own settings
        cache = {
            "SERVING_CACHE_ENABLED": "true",
            "SERVING_CACHE_URL_FILE": str(stack.state_dir / "redis-url"),
            "SERVING_CACHE_SIGNING_KEY_FILE": str(stack.state_dir / "cache-signing-key"),
        }
        run(opts.paths or list(PATHS), out, opts.duration, opts.rate, urls["mlflow"], cache, opts.gil)
    finally:
        stack.down()
    print(f"wrote {out / 'profile.json'} and the raw stacks beside it")
    return 0
