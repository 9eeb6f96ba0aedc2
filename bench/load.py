"""The load generator (wrk, driven by bench/post.lua) and what is measured around it: CPU and RSS of a server.

Every target gets the same requests from the same generator: `POST /invocations` with a `dataframe_split`
body, either one fixed body (a file) or a fresh random one per request; a fixed body may carry its own route and
headers (the V2 binary body: bench/v2.py). wrk runs for a fixed time, on loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "post.lua"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


class LoadError(RuntimeError):
    """wrk is missing, failed, or printed no result."""


@dataclass(frozen=True)
class Body:
    """What each request carries: `path` (the same body every time) or `random` rows over `columns`; a fixed body
    may name the `route` it goes to (else the target's own) and `headers` it needs (else JSON's Content-Type)."""

    rows: int
    path: Path | None = None
    columns: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    route: str = ""

    def wrk_args(self) -> list[str]:
        if self.path is not None:
            return ["file", str(self.path), *(f"{name}: {value}" for name, value in self.headers)]
        return ["random", str(self.rows), ",".join(self.columns)]

    @property
    def kind(self) -> str:
        return "fixed" if self.path is not None else "random"


@dataclass
class LoadResult:
    scenario: str
    target: str
    round: int
    connections: int
    rows_per_request: int
    body: str
    duration_s: float
    requests: int
    rps: float
    rows_per_s: float
    latency_ms: dict[str, float]
    errors: dict[str, int]
    cpu_percent: float  # of one core, all the target's processes together
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise LoadError("wrk is not installed: `apt-get install wrk` (make bench installs it when run as root)")
    return found


def run_wrk(
    url: str,
    body: Body,
    *,
    connections: int,
    duration_s: float,
    scenario: str,
    target: str,
    round_no: int = 0,
    pids: list[int] | None = None,
) -> LoadResult:
    """One timed wrk run against `url`; CPU of `pids` (and their children) is measured over the same time."""
    threads = max(1, min(2, connections))
    argv = [wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{duration_s:g}s", "--timeout", "10s",
            "-s", str(SCRIPT), url, "--", *body.wrk_args()]  # fmt: skip
    before = cpu_seconds(pids or [])
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 60)
    wall = time.monotonic() - started
    cpu = (cpu_seconds(pids or []) - before) / wall * 100 if pids else 0.0
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise LoadError(
            f"wrk failed (exit {done.returncode}) against {url}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    seconds = raw["duration_us"] / 1e6
    requests = int(raw["requests"])
    # wrk counts a completed request with a non-2xx/3xx status in `requests` too: only good answers count.
    good = max(0, requests - raw["errors"]["status"])
    return LoadResult(
        scenario=scenario,
        target=target,
        round=round_no,
        connections=connections,
        rows_per_request=body.rows,
        body=body.kind,
        duration_s=round(seconds, 3),
        requests=requests,
        rps=round(good / seconds, 1),
        rows_per_s=round(good * body.rows / seconds, 1),
        latency_ms={k: round(v / 1000, 3) for k, v in raw["latency_us"].items()},
        errors={k: int(v) for k, v in raw["errors"].items()},
        cpu_percent=round(cpu, 1),
    )


# ------------------------------------------------------------------------------------- processes


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes (and their descendants), in seconds."""
    total = 0
    for pid in {p for root in pids for p in tree(root)}:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    try:
        resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except OSError:
        return 0.0
    return round(resident * PAGE / 2**20, 1)


def workers(pid: int) -> list[int]:
    """The worker processes of a server: the leaves of its process tree (Gunicorn's or Uvicorn's workers)."""
    pids = tree(pid)
    parents = set()
    for p in pids:
        try:
            parents.add(int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1]))
        except OSError:
            continue
    leaves = [p for p in pids if p not in parents]
    # A worker's own helper (Uvicorn's multiprocessing tracker) is a leaf too; workers hold far more memory.
    return [p for p in leaves if rss_mb(p) > 30] or leaves
