"""Prometheus metrics, correct under several Gunicorn workers.

Under Gunicorn, PROMETHEUS_MULTIPROC_DIR is set: every worker writes its values to files there and `/metrics`
(answered by any one worker) adds up all of them; `gunicorn.conf.py` removes a dead worker's live gauges.
Without it (one process, tests) the values live in this object's own registry.

The per-request series (latency, rows, variant requests, cache bypasses) are written through `tally`
(service/core/telemetry.py): added up in the worker, written once per series every second and on every read.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from service.core.telemetry import LATENCY_BUCKETS, Tally, drop_series


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.tally = Tally(r)  # registered first: a read of the registry flushes it before the series are read
        self.request_duration = Histogram(
            "serving_http_request_duration_seconds",
            "HTTP request latency by route template, method and status code.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "serving_predictions", "Rows predicted, by endpoint (cache hits included).", ["endpoint"], registry=r
        )
        self.cache_hits = Counter("serving_cache_hits", "Rows answered from the cache.", registry=r)
        self.cache_misses = Counter(
            "serving_cache_misses", "Rows the cache did not hold (or could not be asked).", registry=r
        )
        self.cache_errors = Counter(
            "serving_cache_errors", "Failed cache calls, by operation (get, set).", ["operation"], registry=r
        )
        self.cache_rejected = Counter(
            "serving_cache_rejected",
            "Cached values not served (counted as misses), by reason: signature (not written by this service with "
            "its key), undecodable, shape (not one row's output of finite numbers).",
            ["reason"],
            registry=r,
        )
        self.cache_sets_dropped = Counter(
            "serving_cache_sets_dropped",
            "Background cache writes skipped because max_pending_sets were already in flight.",
            registry=r,
        )
        self.cache_bypassed = Counter(
            "serving_cache_bypassed",
            "Requests answered without asking the cache because computing their rows costs less than a cache round "
            "trip saves (SERVING_CACHE_MODE=auto; service/core/cachecost.py).",
            registry=r,
        )
        self.cache_pays = Gauge(
            "serving_cache_pays",
            "Per worker and version: 1 while asking the cache pays (a hit saves more than the round trip costs), 0 "
            "while the cache is bypassed (SERVING_CACHE_MODE=auto).",
            ["name", "version"],
            registry=r,
            multiprocess_mode="liveall",
        )
        self.cache_circuit_open = Gauge(
            "serving_cache_circuit_open",
            "1 while the cache circuit breaker is open in a worker.",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.model_info = Gauge(
            "serving_model_info",
            "1 for the model version each worker serves (a replaced version's series is dropped, or 0 under "
            "Gunicorn). More than one version per alias across the fleet for long is a mixed fleet: alerted on.",
            ["name", "version", "alias"],
            registry=r,
            multiprocess_mode="liveall",
        )
        self.model_reloads = Counter(
            "serving_model_reloads",
            "Model load attempts by result: loaded, rejected (failed validation), failed (could not fetch or load), "
            "and by alias (the champion's, a challenger's).",
            ["result", "alias"],
            registry=r,
        )
        self.model_load_duration = Histogram(
            "serving_model_load_duration_seconds",
            "Time to download, load and validate a model version.",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=r,
        )

        # Children bound once per label set: `labels()` takes a lock and checks its arguments on every call.
        self._durations: dict[tuple[str, str, int], Any] = {}
        self.predicted = {endpoint: self.predictions.labels(endpoint) for endpoint in ("predict", "invocations", "v2")}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """The request's one observation in the latency histogram."""
        key = (route, method, status)
        child = self._durations.get(key)
        if child is None:
            child = self._durations[key] = self.request_duration.labels(route, method, str(status))
        self.tally.observe(child, seconds)

    def drop_version(self, name: str, version: str, alias: str) -> None:
        """Forget a replaced version's series. Under Gunicorn the values live in files that cannot forget a
        series, so the gauge is set to 0 first (alerts select `== 1`)."""
        self.model_info.labels(name, version, alias).set(0)
        drop_series(self.model_info, {"name": name, "version": version, "alias": alias})
        drop_series(self.cache_pays, {"name": name, "version": version})

    def set_cache_pays(self, name: str, version: str, pays: bool) -> None:
        """When a version's cache verdict turns (not per request)."""
        self.cache_pays.labels(name, version).set(1 if pays else 0)

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Reading this worker's own registry runs its read hooks (the tally's writes, the drift window's rows,
            # service/core/telemetry.py) before the files are read; the other workers' are at most a second old.
            for _ in self.registry.collect():
                pass
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
