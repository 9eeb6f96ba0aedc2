"""Bounded load: N concurrent HTTP clients on one asyncio loop in a background thread, or wrk.

Every request is recorded (when it started, how long it took, its status or transport error, the model version
that answered), so a test can say exactly which requests failed and when. Loops stop on `stop()`, after
`max_seconds`, or after `max_requests`, whichever comes first: nothing here can run away. The Python clients
cost the machine more CPU per request than the service does; the sustained-load scenario uses wrk (C) instead,
which leaves the service the CPU it needs to show its own latency.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from local.stack import wait_for


@dataclass(frozen=True)
class Outcome:
    at: float  # seconds since the load started
    latency: float  # seconds
    status: int  # 0: no HTTP answer (transport error)
    version: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Load:
    """`clients` loops POSTing `{"instances": [row]}` to `url`/predict, cycling through `rows`."""

    url: str
    rows: Sequence[dict[str, float]]
    clients: int = 8
    max_seconds: float = 60.0
    max_requests: int = 200_000
    keepalive: bool = True
    timeout_s: float = 10.0
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _t0: float = 0.0

    def __enter__(self) -> Load:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="load", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 30)

    def now(self) -> float:
        """Seconds since the load started, on the clock of `Outcome.at`."""
        return time.monotonic() - self._t0

    def run_for(self, seconds: float) -> None:
        """Keep the load going for `seconds` more (the caller's thread sleeps)."""
        self._stop.wait(seconds)

    def wait_for(self, condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
        """Poll `condition` (the load goes on meanwhile); False when it did not hold within `timeout`."""
        return wait_for(condition, timeout, interval)

    async def _main(self) -> None:
        limits = httpx.Limits(
            max_connections=self.clients,
            max_keepalive_connections=self.clients if self.keepalive else 0,
        )
        headers = {} if self.keepalive else {"Connection": "close"}
        async with httpx.AsyncClient(
            base_url=self.url, limits=limits, timeout=self.timeout_s, headers=headers
        ) as client:
            await asyncio.gather(*(self._client(client, i) for i in range(self.clients)))

    async def _client(self, client: httpx.AsyncClient, index: int) -> None:
        deadline = self._t0 + self.max_seconds
        i = index
        while not self._stop.is_set() and time.monotonic() < deadline and len(self.outcomes) < self.max_requests:
            body = {"instances": [self.rows[i % len(self.rows)]]}
            i += self.clients
            started = time.monotonic()
            try:
                response = await client.post("/predict", json=body)
            except httpx.HTTPError as e:
                self.outcomes.append(Outcome(started - self._t0, time.monotonic() - started, 0, error=repr(e)))
                continue
            self.outcomes.append(
                Outcome(
                    started - self._t0,
                    time.monotonic() - started,
                    response.status_code,
                    version=response.headers.get("x-model-version"),
                    error=None if response.is_success else response.text[:300],
                )
            )

    # ------------------------------------------------------------------------------------ figures

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def between(self, start: float, end: float) -> list[Outcome]:
        return [o for o in self.outcomes if start <= o.at < end]

    def summary(self) -> dict[str, Any]:
        outcomes = list(self.outcomes)
        latencies = np.array([o.latency for o in outcomes]) if outcomes else np.zeros(1)
        span = max((o.at + o.latency for o in outcomes), default=0.0)
        return {
            "requests": len(outcomes),
            "errors": sum(not o.ok for o in outcomes),
            "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 1),
            "p99_ms": round(float(np.percentile(latencies, 99)) * 1000, 1),
            "rps": round(len(outcomes) / span, 1) if span else 0.0,
        }


def describe(failures: Sequence[Outcome], limit: int = 5) -> str:
    """The first failures, for an assertion message."""
    return "; ".join(f"t={o.at:.2f}s status={o.status} {o.error}" for o in failures[:limit])


# ------------------------------------------------------------------------------------------------ wrk

_WRK_SCRIPT = """
local bodies = {%s}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {}; n = 0 end
function request()
  n = n + 1
  return wrk.format("POST", "/predict", {["Content-Type"] = "application/json"}, bodies[(n %% #bodies) + 1])
end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  local counts = {}
  for _, t in ipairs(threads) do
    for code, c in pairs(t:get("statuses")) do counts[code] = (counts[code] or 0) + c end
  end
  local parts = {}
  for code, c in pairs(counts) do table.insert(parts, string.format('"%%d": %%d', code, c)) end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, "write": %%d, "timeout": %%d, '
    .. '"p50_us": %%d, "p99_us": %%d, "max_us": %%d, "statuses": {%%s}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, table.concat(parts, ", ")))
end
"""


def wrk(url: str, rows: Sequence[dict[str, float]], *, clients: int, seconds: int, script_dir: Path) -> dict[str, Any]:
    """Run wrk (one thread: the service needs the other core) POSTing one row per request, cycling `rows`."""
    binary = shutil.which("wrk")
    if binary is None:
        raise AssertionError("wrk is not installed; run `make system-deps` as root (Debian package wrk)")
    bodies = ", ".join(f"[==[{json.dumps({'instances': [row]})}]==]" for row in rows)
    script = script_dir / "predict.lua"
    script.write_text(_WRK_SCRIPT % bodies)
    argv = [binary, "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), f"{url}/predict"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise AssertionError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw = json.loads(line.removeprefix("WRK_JSON "))
    statuses = {int(code): count for code, count in raw["statuses"].items()}
    socket_errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {
        "requests": raw["requests"],
        "errors": sum(c for code, c in statuses.items() if not 200 <= code < 300) + socket_errors,
        "statuses": statuses,
        "socket_errors": socket_errors,
        "p50_ms": round(raw["p50_us"] / 1000, 1),
        "p99_ms": round(raw["p99_us"] / 1000, 1),
        "max_ms": round(raw["max_us"] / 1000, 1),
        "rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
    }
