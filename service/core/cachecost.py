"""Whether asking the cache pays, per model version: what computing costs against what a cache round trip costs.

A cache hit saves computing its rows; every request that asks the cache pays the round trip (keys, one MGET,
checking what came back, scheduling the write) whether it hits or not. For a linear model computing one row
takes microseconds and the round trip hundreds of them: the cache only slows it down. For a forest without
ONNX computing takes milliseconds and a hit is tens of times faster. So in `auto` mode a request asks the
cache only when

    hit ratio x cost of computing its n rows  >  cost of the cache round trip for n rows

Each cost is `fixed + per_row x n` seconds, calibrated when the version is loaded (the model timed on 1 and
`CALIBRATION_ROWS` rows, one MGET timed for as many keys), then scaled by what requests measure: an
exponential moving average of log(measured / predicted), each step clipped to a factor of `MAX_STEP`, so a
stall (a GC pause, a slow Redis call) moves the estimate a little and a lasting change moves it all the way.
The hit ratio is the same kind of average over the rows that asked. While the cache is bypassed it is still
asked once every `probe_every` requests, and at most once every `probe_interval_s` (a probe is a full round trip
and a write, ~100x a bypass: under load one probe in 64 requests would cost a cheap model more than its
predictions), so its round trip and hit ratio stay measured and the choice can turn.

`always` asks the cache on every request (the behaviour before this module), `never` never does.

Plain Python, no web framework, no import of the service: the cache and the request path hand it numbers.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

CacheMode = Literal["auto", "always", "never"]
CACHE_MODES: tuple[CacheMode, ...] = ("auto", "always", "never")

CALIBRATION_ROWS = 64
CALIBRATION_REPEATS = 3
ALPHA = 0.05  # weight of one request in the moving estimates: ~20 requests to follow a lasting change halfway
MAX_STEP = math.log(4.0)  # one request moves an estimate by at most x4 of its own error, in log terms
MAX_TRACKED = 16  # model versions whose costs are kept (a worker serves at most a champion and a challenger)


class Cost:
    """`fixed + per_row * n` seconds, times a scale that follows what requests measure."""

    __slots__ = ("fixed", "per_row", "_log_scale", "scale")

    def __init__(self, fixed: float, per_row: float) -> None:
        self.fixed = max(fixed, 0.0)
        self.per_row = max(per_row, 0.0)
        self._log_scale = 0.0
        self.scale = 1.0

    @classmethod
    def from_timings(cls, one: float, many: float, rows: int) -> Cost:
        """From the time of 1 row and of `rows` rows (the marginal row cost, and the rest fixed)."""
        per_row = max(many - one, 0.0) / (rows - 1)
        return cls(one - per_row, per_row)

    def at(self, n: int) -> float:
        return (self.fixed + self.per_row * n) * self.scale

    def observe(self, n: int, seconds: float) -> None:
        base = self.fixed + self.per_row * n
        if base <= 0.0 or seconds <= 0.0:
            return
        error = math.log(seconds / base) - self._log_scale
        self._log_scale += ALPHA * max(-MAX_STEP, min(MAX_STEP, error))
        self.scale = math.exp(self._log_scale)

    def describe(self) -> dict[str, float]:
        return {"fixed_s": self.fixed * self.scale, "per_row_s": self.per_row * self.scale}


@dataclass
class ModelCosts:
    """One version's estimates; `compute` or `cache` is None until calibrated or first measured."""

    name: str
    version: str
    compute: Cost | None = None
    cache: Cost | None = None
    hit_ratio: float = 1.0  # optimistic until measured: a new version starts out asking, as before this module
    bypassed: int = 0  # requests that skipped the cache since the last probe
    probed_at: float = -math.inf  # the clock at the last probe
    pays: bool | None = None  # the last verdict; None before the first

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "cache_pays": self.pays,
            "hit_ratio": round(self.hit_ratio, 4),
            "compute": self.compute.describe() if self.compute else None,
            "cache_round_trip": self.cache.describe() if self.cache else None,
        }


class CachePolicy:
    """Decides, per request, whether the cache is asked; learns from what the request path reports.

    `on_change(name, version, pays)` is called when a version's verdict turns (a metric, a log line); never on
    the hot path otherwise.
    """

    def __init__(
        self,
        mode: CacheMode = "auto",
        *,
        probe_every: int = 64,
        probe_interval_s: float = 0.25,
        on_change: Callable[[str, str, bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode not in CACHE_MODES:
            raise ValueError(f"cache mode {mode!r}: expected one of {list(CACHE_MODES)}")
        self.mode = mode
        self.probe_every = probe_every
        self.probe_interval_s = probe_interval_s
        self.on_change = on_change
        self.clock = clock
        self._costs: dict[str, ModelCosts] = {}

    def costs(self, key: str, name: str, version: str) -> ModelCosts:
        costs = self._costs.get(key)
        if costs is None:
            if len(self._costs) >= MAX_TRACKED:
                del self._costs[next(iter(self._costs))]
            costs = self._costs[key] = ModelCosts(name, version)
        return costs

    def use_cache(self, key: str, name: str, version: str, n: int) -> bool:
        """Whether the request for `n` rows of this version asks the cache."""
        if self.mode != "auto":
            return self.mode == "always"
        costs = self._costs.get(key) or self.costs(key, name, version)
        if self._judge(costs, n) is not False:
            return True
        costs.bypassed += 1
        if costs.bypassed >= self.probe_every and (now := self.clock()) - costs.probed_at >= self.probe_interval_s:
            costs.bypassed, costs.probed_at = 0, now
            return True  # a probe: keeps the round trip and hit ratio measured, so the verdict can turn
        return False

    def _judge(self, costs: ModelCosts, n: int) -> bool | None:
        """Whether asking the cache pays for `n` rows; None while either cost is unknown (then it is asked, as
        before this module, and measured)."""
        compute, cache = costs.compute, costs.cache
        if compute is None or cache is None:
            return None
        pays = costs.hit_ratio * compute.at(n) > cache.at(n)
        if pays != costs.pays:
            costs.pays = pays
            if self.on_change is not None:
                self.on_change(costs.name, costs.version, pays)
        return pays

    def calibrated(self, key: str, name: str, version: str, compute: Cost | None, cache: Cost | None) -> None:
        """The load-time estimates of a version (either may be None: then requests measure it)."""
        costs = self.costs(key, name, version)
        if compute is not None:
            costs.compute = compute
        if cache is not None:
            costs.cache = cache
        if self.mode == "auto":
            self._judge(costs, 1)

    def observe_compute(self, key: str, n: int, seconds: float) -> None:
        costs = self._costs.get(key)
        if costs is None or n <= 0:
            return
        if costs.compute is None:
            costs.compute = Cost(seconds, 0.0)
        else:
            costs.compute.observe(n, seconds)

    def observe_cache(self, key: str, n: int, hits: int, seconds: float) -> None:
        costs = self._costs.get(key)
        if costs is None or n <= 0:
            return
        costs.hit_ratio += ALPHA * (hits / n - costs.hit_ratio)
        if costs.cache is None:
            costs.cache = Cost(seconds, 0.0)
        else:
            costs.cache.observe(n, seconds)

    def forget(self, key: str) -> None:
        self._costs.pop(key, None)

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "versions": [c.describe() for c in self._costs.values()]}


def time_calls(call: Callable[[], Any], repeats: int = CALIBRATION_REPEATS) -> float:
    """The median wall time of `repeats` calls (the first call, which warms caches up, is not counted)."""
    call()
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)
