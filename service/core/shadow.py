"""Shadow traffic: the challenger also predicts a sample of what the champion answered, off the request path.

The request handler only puts (rows, champion's answer, both versions) on a bounded in-memory queue and returns;
when the queue is full the batch is dropped and counted, so a slow or broken challenger never slows a caller.
One consumer per worker predicts the batches with the challenger in a worker thread, one at a time (the
challenger never takes more than one thread from the serving pool), and records per row pair the absolute
difference |champion - challenger| (mean over the outputs of a multi-output model), the challenger's latency and
its failures. A sample of the pairs goes to the JSON log.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram

from service.core.loader import LoadedModel
from service.core.telemetry import LATENCY_BUCKETS, request_id
from service.core.validation import Matrix

log = logging.getLogger(__name__)

# Absolute differences span the scale of the model's output: decades from 1e-6 up.
DIFF_BUCKETS = (0.0, 1e-6, 1e-4, 1e-3, 0.01, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 1000.0)
# Rows of each answer a sampled log line carries, so a big batch does not make a huge line.
LOG_ROWS = 20


class ShadowMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.abs_difference = Histogram(
            "serving_shadow_abs_difference",
            "|champion - challenger| per row pair predicted in shadow, by both versions; _count is the number "
            "of pairs, _sum/_count the mean absolute difference.",
            ["champion_version", "challenger_version"],
            buckets=DIFF_BUCKETS,
            registry=registry,
        )
        self.challenger_duration = Histogram(
            "serving_shadow_challenger_duration_seconds",
            "Time the challenger took to predict a shadow batch; _count is the number of batches it was given.",
            ["challenger_version"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.challenger_errors = Counter(
            "serving_shadow_challenger_errors",
            "Shadow batches the challenger failed on (raised, wrong shape, non-finite output).",
            ["challenger_version"],
            registry=registry,
        )
        self.dropped = Counter(
            "serving_shadow_dropped", "Shadow batches dropped because the shadow queue was full.", registry=registry
        )


@dataclass(frozen=True)
class ShadowJob:
    rows: Matrix
    champion: LoadedModel
    answer: list[Any]
    challenger: LoadedModel
    request_id: str | None


class Shadow:
    """The bounded queue of shadow batches and its consumer."""

    def __init__(self, fraction: float, queue_size: int, log_sample: float, registry: CollectorRegistry) -> None:
        self.fraction = fraction
        self.log_sample = log_sample
        self.queue_size = queue_size
        self.metrics = ShadowMetrics(registry)
        self._send, self._receive = anyio.create_memory_object_stream[ShadowJob](queue_size)
        self._limiter = anyio.CapacityLimiter(1)

    def submit(self, rows: Matrix, champion: LoadedModel, answer: list[Any], challenger: LoadedModel) -> bool:
        """Queue a batch for the challenger without waiting; False (and counted) when the queue is full."""
        try:
            self._send.send_nowait(ShadowJob(rows, champion, answer, challenger, request_id.get()))
        except anyio.WouldBlock:
            self.metrics.dropped.inc()
            return False
        return True

    async def run(self) -> None:
        """Predict queued batches with the challenger until cancelled."""
        async with self._receive:
            async for job in self._receive:
                await anyio.to_thread.run_sync(self.compare, job, limiter=self._limiter, abandon_on_cancel=True)

    def compare(self, job: ShadowJob) -> None:
        """Blocking: the challenger's prediction of one batch, compared with the champion's answer."""
        token = request_id.set(job.request_id)
        version = job.challenger.version
        try:
            started = time.perf_counter()
            try:
                # Labels are compared by equality (a disagreement counts 1), numbers by their difference.
                numeric = job.champion.output_kind == "number"
                out = np.asarray(job.challenger.predictor.predict(job.rows), dtype=np.float64 if numeric else None)
                expected = np.asarray(job.answer, dtype=np.float64 if numeric else None)
                if out.shape != expected.shape:
                    raise ValueError(f"returned shape {out.shape}, the champion {expected.shape}")
                if numeric and not np.isfinite(out).all():
                    raise ValueError("returned non-finite values")
            except Exception as e:  # noqa: BLE001 - whatever the challenger does, it is counted, never raised
                self.metrics.challenger_errors.labels(version).inc()
                log.warning("shadow: the challenger failed", extra={"challenger_version": version, "error": repr(e)})
                return
            finally:
                self.metrics.challenger_duration.labels(version).observe(time.perf_counter() - started)
            gap = np.abs(out - expected) if numeric else (out != expected).astype(np.float64)
            diff = gap.reshape(len(out), -1).mean(axis=1)
            histogram = self.metrics.abs_difference.labels(job.champion.version, version)
            for value in diff.tolist():
                histogram.observe(value)
            if self.log_sample > 0 and random.random() < self.log_sample:  # noqa: S311 - sampling, not security
                log.info(
                    "shadow pair",
                    extra={
                        "model": job.champion.name,
                        "champion_version": job.champion.version,
                        "challenger_version": version,
                        "rows": len(out),
                        "mean_abs_difference": float(diff.mean()),
                        "champion": job.answer[:LOG_ROWS],
                        "challenger": out[:LOG_ROWS].tolist(),
                    },
                )
        finally:
            request_id.reset(token)

    def describe(self) -> dict[str, Any]:
        return {
            "fraction": self.fraction,
            "queued": self._send.statistics().current_buffer_used,
            "queue_size": self.queue_size,
            "log_sample": self.log_sample,
        }
