"""Adaptive micro-batching: concurrent requests for one model are predicted together, in one call.

A request's rows join the open batch of its model; the batch closes when it holds `max_batch_size` rows, or
`max_latency_s` after its first row arrived, whichever comes first. Each model (key: a model version, compared
by identity) has its own queue and worker task, so a slow challenger batch never delays the champion's. One
batch is predicted at a time per model, so while the model is busy its next batch fills up: under load batches
grow (and the per-call overhead of the model is paid once per batch), at low load a request waits at most
`max_latency_s`. A model's worker ends after `idle_s` without requests (a replaced version's lane goes away).

Every caller gets exactly its own rows back, in order. When a batch of several requests fails, each request is
predicted again alone before anyone is failed: one request whose rows make the model raise fails only itself.
A caller that gives up (client gone, timeout) before its batch runs costs nothing: its rows are left out. A
caller waits at most `timeout_s` for its answer, then gets `BatchTimeout`.

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


class BatchTimeout(TimeoutError):
    """The answer did not come within the batcher's timeout (the model's queue is too long, or it hangs)."""


@dataclass
class _Request(Generic[K]):
    key: K
    rows: Matrix
    future: asyncio.Future[list[Any]]
    arrived: float = field(default_factory=time.monotonic)


@dataclass
class _Lane(Generic[K]):
    """One model's queue, its worker, and the request that did not fit the last batch."""

    key: K  # held, so the key's id() cannot be reused by another object while the lane lives
    queue: asyncio.Queue[_Request[K]] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None
    carry: _Request[K] | None = None


@dataclass(frozen=True)
class BatchStats:
    """What the last batches looked like (for tests and logs): rows and requests per batch."""

    batches: int
    rows: int
    requests: int
    largest: int


class MicroBatcher(Generic[K]):
    """Queues `submit(key, rows)` calls and predicts them in batches through `run(key, matrix)`."""

    def __init__(
        self,
        run: RunBatch[K],
        *,
        max_batch_size: int,
        max_latency_s: float,
        timeout_s: float = 30.0,
        idle_s: float = 60.0,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1 (got {max_batch_size})")
        if max_latency_s < 0:
            raise ValueError(f"max_latency_s must be >= 0 (got {max_latency_s})")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0 (got {timeout_s})")
        self.run = run
        self.max_batch_size = max_batch_size
        self.max_latency_s = max_latency_s
        self.timeout_s = timeout_s
        self.idle_s = idle_s
        self._lanes: dict[int, _Lane[K]] = {}
        self._batches = self._rows = self._requests = self._largest = 0

    @property
    def stats(self) -> BatchStats:
        return BatchStats(self._batches, self._rows, self._requests, self._largest)

    @property
    def lanes(self) -> int:
        return len(self._lanes)

    async def submit(self, key: K, rows: Matrix) -> list[Any]:
        """The predictions for `rows` (one per row, in order), computed in a batch with other callers' rows."""
        lane = self._lanes.get(id(key))
        if lane is None:
            lane = self._lanes[id(key)] = _Lane(key)
        if lane.worker is None or lane.worker.done():
            lane.worker = asyncio.get_running_loop().create_task(self._serve(lane), name="micro-batcher")
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        lane.queue.put_nowait(_Request(key, rows, future))
        try:
            return await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError as e:
            raise BatchTimeout(f"no answer within {self.timeout_s:g} s") from e

    async def close(self) -> None:
        """Stop every model's batching task; callers still waiting get a CancelledError."""
        lanes, self._lanes = list(self._lanes.values()), {}
        for lane in lanes:
            if lane.worker is not None:
                lane.worker.cancel()
                try:
                    await lane.worker
                except asyncio.CancelledError:
                    pass
            pending = [lane.carry] if lane.carry else []
            while not lane.queue.empty():
                pending.append(lane.queue.get_nowait())
            for request in pending:
                request.future.cancel()
            lane.carry = None

    # ------------------------------------------------------------------------------------------ worker

    async def _serve(self, lane: _Lane[K]) -> None:
        while True:
            if lane.carry is None and lane.queue.empty():
                try:
                    lane.carry = await asyncio.wait_for(lane.queue.get(), self.idle_s)
                except TimeoutError:
                    if lane.queue.empty() and self._lanes.get(id(lane.key)) is lane:
                        del self._lanes[id(lane.key)]
                        return
                    continue
            batch = await self._collect(lane)
            if batch:
                await self._predict(batch)

    async def _collect(self, lane: _Lane[K]) -> list[_Request[K]]:
        """The next batch: whole requests, at most max_batch_size rows unless one request has more."""
        first, lane.carry = lane.carry, None
        if first is None:
            first = await lane.queue.get()
        batch, size = [first], len(first.rows)
        deadline = first.arrived + self.max_latency_s
        while size < self.max_batch_size:
            try:
                # What queued while the last batch ran is taken at once, even past the deadline.
                request = lane.queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    request = await asyncio.wait_for(lane.queue.get(), remaining)
                except TimeoutError:
                    break
            if size + len(request.rows) > self.max_batch_size:
                lane.carry = request  # it opens the next batch
                break
            batch.append(request)
            size += len(request.rows)
        # Callers that gave up while queued are left out: nobody waits for their rows.
        return [r for r in batch if not r.future.done()]

    async def _run(self, key: K, matrix: Matrix) -> list[Any]:
        values = await self.run(key, matrix)
        if len(values) != len(matrix):
            raise RuntimeError(f"the batch of {len(matrix)} rows got {len(values)} predictions")
        return values

    async def _predict(self, batch: list[_Request[K]]) -> None:
        matrix = batch[0].rows if len(batch) == 1 else np.concatenate([r.rows for r in batch])
        try:
            values = await self._run(batch[0].key, matrix)
        except asyncio.CancelledError:
            for request in batch:
                request.future.cancel()
            raise
        except Exception as e:  # noqa: BLE001 - whose error it is is decided below
            if len(batch) == 1:
                if not batch[0].future.done():
                    batch[0].future.set_exception(e)
                return
            await self._predict_alone(batch)
            return
        self._count(len(matrix), len(batch))
        start = 0
        for request in batch:
            end = start + len(request.rows)
            if not request.future.done():
                request.future.set_result(values[start:end])
            start = end

    async def _predict_alone(self, batch: list[_Request[K]]) -> None:
        """The batch failed: predict each request on its own, so only the ones that fail alone get an error."""
        for request in batch:
            if request.future.done():
                continue
            try:
                values = await self._run(request.key, request.rows)
            except asyncio.CancelledError:
                for other in batch:
                    other.future.cancel()
                raise
            except Exception as e:  # noqa: BLE001 - this request's own error
                if not request.future.done():
                    request.future.set_exception(e)
                continue
            self._count(len(request.rows), 1)
            if not request.future.done():
                request.future.set_result(values)

    def _count(self, rows: int, requests: int) -> None:
        self._batches += 1
        self._rows += rows
        self._requests += requests
        self._largest = max(self._largest, rows)
