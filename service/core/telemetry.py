"""What the core reports through, without importing the service around it.

The core's classes take their metrics from the caller: a Prometheus registry to create their own series in
(drift, shadow, variants), or an object with the series they need (the cache's and the reloader's, described by
the protocols below and satisfied by `service.metrics.Metrics`). The request id that log lines carry is a
context variable set by the transport (service/middleware.py) and read back by the log formatter
(service/logs.py); background work the core runs for a request (the shadow queue) carries it along.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from typing import Protocol

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


class CacheMetrics(Protocol):
    """The series the prediction cache counts in (service/core/cache.py)."""

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
