"""Adaptive micro-batching: concurrent requests for one model are predicted together, in one call.

A request's rows join the open batch; the batch closes when it holds `max_batch_size` rows, or
`max_latency_s` after its first row arrived, whichever comes first. One batch is predicted at a time per
batcher, so while the model is busy the next batch fills up: under load batches grow (and the per-call
overhead of the model is paid once per batch), at low load a request waits at most `max_latency_s`.

Every caller gets exactly its own rows back, in order. A failed batch raises the same error in every caller
that had rows in it. A caller that gives up (client gone, timeout) before its batch runs costs nothing: its
rows are left out. Batches never mix keys (model versions: compared by identity): rows for another one close
the batch and start the next.

Plain asyncio and numpy; the prediction itself is the `run` function given (the service passes one that runs
the model in a worker thread).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from service.core.validation import Matrix

K = TypeVar("K")

RunBatch = Callable[[K, Matrix], Awaitable[list[Any]]]
"""Predicts a stacked matrix for key K (the model); returns one value per row."""


@dataclass
class _Request(Generic[K]):
    key: K
    rows: Matrix
    future: asyncio.Future[list[Any]]
    arrived: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class BatchStats:
    """What the last batches looked like (for tests and logs): rows and requests per batch."""

    batches: int
    rows: int
    requests: int
    largest: int


class MicroBatcher(Generic[K]):
    """Queues `submit(key, rows)` calls and predicts them in batches through `run(key, matrix)`."""

    def __init__(self, run: RunBatch[K], *, max_batch_size: int, max_latency_s: float) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1 (got {max_batch_size})")
        if max_latency_s < 0:
            raise ValueError(f"max_latency_s must be >= 0 (got {max_latency_s})")
        self.run = run
        self.max_batch_size = max_batch_size
        self.max_latency_s = max_latency_s
        self._queue: asyncio.Queue[_Request[K]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._carry: _Request[K] | None = None
        self._batches = self._rows = self._requests = self._largest = 0

    @property
    def stats(self) -> BatchStats:
        return BatchStats(self._batches, self._rows, self._requests, self._largest)

    async def submit(self, key: K, rows: Matrix) -> list[Any]:
        """The predictions for `rows` (one per row, in order), computed in a batch with other callers' rows."""
        if self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._serve(), name="micro-batcher")
        assert self._queue is not None
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Request(key, rows, future))
        return await future

    async def close(self) -> None:
        """Stop the batching task; callers still waiting get a CancelledError."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            try:
                await worker
            except asyncio.CancelledError:
                pass
        pending = [self._carry] if self._carry else []
        while self._queue is not None and not self._queue.empty():
            pending.append(self._queue.get_nowait())
        for request in pending:
            request.future.cancel()
        self._carry = None

    # ------------------------------------------------------------------------------------------ worker

    async def _serve(self) -> None:
        while True:
            batch = await self._collect()
            if batch:
                await self._predict(batch)

    async def _collect(self) -> list[_Request[K]]:
        """The next batch: whole requests, one key, at most max_batch_size rows unless one request has more."""
        assert self._queue is not None
        first, self._carry = self._carry, None
        if first is None:
            first = await self._queue.get()
        batch, size = [first], len(first.rows)
        deadline = first.arrived + self.max_latency_s
        while size < self.max_batch_size:
            try:
                # What queued while the last batch ran is taken at once, even past the deadline.
                request = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    request = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            if request.key is not first.key or size + len(request.rows) > self.max_batch_size:
                self._carry = request  # it opens the next batch
                break
            batch.append(request)
            size += len(request.rows)
        # Callers that gave up while queued are left out: nobody waits for their rows.
        return [r for r in batch if not r.future.done()]

    async def _predict(self, batch: list[_Request[K]]) -> None:
        matrix = batch[0].rows if len(batch) == 1 else np.concatenate([r.rows for r in batch])
        try:
            values = await self.run(batch[0].key, matrix)
            if len(values) != len(matrix):
                raise RuntimeError(f"the batch of {len(matrix)} rows got {len(values)} predictions")
        except asyncio.CancelledError:
            for request in batch:
                request.future.cancel()
            raise
        except Exception as e:  # noqa: BLE001 - the error belongs to every caller in the batch
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(e)
            return
        self._batches += 1
        self._rows += len(matrix)
        self._requests += len(batch)
        self._largest = max(self._largest, len(matrix))
        start = 0
        for request in batch:
            end = start + len(request.rows)
            if not request.future.done():
                request.future.set_result(values[start:end])
            start = end
