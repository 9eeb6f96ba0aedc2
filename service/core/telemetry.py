"""What the core reports through, without importing the service around it.

The core's classes take their metrics from the caller: a Prometheus registry to create their own series in
(drift, shadow, variants), or an object with the series they need (the cache's and the reloader's, described by
the protocols below and satisfied by `service.metrics.Metrics`). The request id that log lines carry is a
context variable set by the transport (service/middleware.py) and read back by the log formatter
(service/logs.py); background work the core runs for a request (the shadow queue) carries it along.
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_left
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


class ReadHook:
    """A collector that adds no series: registered in a registry, it calls `hook` whenever the registry is read, so
    work held back for speed (the tally's writes, the drift window's rows) is done before what it writes is read.
    Register it before the series it writes."""

    def __init__(self, registry: CollectorRegistry, hook: Callable[[], None]) -> None:
        self.hook = hook
        registry.register(self)

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> list[Metric]:
        self.hook()
        return []


class Tally:
    """Counter increments and histogram observations added up in the worker and written to their series in batches.

    Under Gunicorn (PROMETHEUS_MULTIPROC_DIR) each write to a series is a locked write into a memory-mapped file
    (~1-2 µs, a process id check included), and a one-row prediction made seven of them (two latency histograms,
    the request and row counters): more than the model costs. Here a request adds to plain numbers, and `flush`
    writes each series it touched once. It is flushed whenever the registry it is registered in is read (it is
    registered first, so `/metrics`, `get_sample_value` and every scrape of this process see every request)
    and every second by the app's lifespan, so under Gunicorn another worker's scrape is at most a second
    behind. What a flush writes is what the same calls made one by one would have written (a test holds the
    two to one exposition).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._lock = threading.Lock()  # adds may come from worker threads; a flush swaps the pending tables
        self._counts: dict[Any, float] = {}
        self._observed: dict[Any, list[Any]] = {}  # histogram child -> [sum, per-bucket counts]
        self._latest: dict[Any, float] = {}  # gauge child -> its last value
        if registry is not None:
            ReadHook(registry, self.flush)

    def inc(self, counter: Counter, amount: float = 1.0) -> None:
        """`counter.inc(amount)` (a bound child: no labels() per call), written at the next flush."""
        with self._lock:
            self._counts[counter] = self._counts.get(counter, 0.0) + amount

    def observe(self, histogram: Histogram, amount: float) -> None:
        """`histogram.observe(amount)` (a bound child), written at the next flush. Its bucket is the first whose
        upper bound is >= amount, as prometheus_client's own observe picks it."""
        with self._lock:
            pending = self._observed.get(histogram)
            if pending is None:
                pending = self._observed[histogram] = [0.0, [0] * len(histogram._upper_bounds)]
            pending[0] += amount
            pending[1][bisect_left(histogram._upper_bounds, amount)] += 1

    def set(self, gauge: Gauge, value: float) -> None:
        """`gauge.set(value)` (a bound child): the last value set before a flush is written."""
        with self._lock:
            self._latest[gauge] = value

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, {}
            observed, self._observed = self._observed, {}
            latest, self._latest = self._latest, {}
        for counter, amount in counts.items():
            counter.inc(amount)
        for gauge, value in latest.items():
            gauge.set(value)
        # A histogram child is its sum and one counter per bucket (prometheus_client's `_sum`, `_buckets`,
        # pinned in service/requirements.txt; tests/service/test_request_costs.py compares the exposition).
        for histogram, (total, buckets) in observed.items():
            histogram._sum.inc(total)
            for value, n in zip(histogram._buckets, buckets, strict=True):
                if n:
                    value.inc(n)


class CacheMetrics(Protocol):
    """The series the prediction cache counts in (service/core/cache.py)."""

    tally: Tally
    cache_hits: Counter
    cache_misses: Counter
    cache_errors: Counter
    cache_rejected: Counter
    cache_sets_dropped: Counter
    cache_bypassed: Counter
    cache_circuit_open: Gauge


class ReloadMetrics(Protocol):
    """The series a reloader reports model loads in (service/core/reload.py)."""

    model_info: Gauge
    model_reloads: Counter
    model_load_duration: Histogram

    def drop_version(self, name: str, version: str, alias: str) -> None: ...


def drop_series(metric: MetricWrapperBase, labels: dict[str, str]) -> None:
    """Remove the series matching `labels` (a subset of the metric's labels) from this process's registry; a
    no-op in multiprocess mode, where prometheus_client cannot remove series (it warns instead)."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metric.remove_by_labels(labels)
