"""Adaptive micro-batching: unit tests of the batcher (no server), then the service with batching on.

The unit tests' model is a function that records each batch it is given and returns, per row, the row's first
value: so an answer says which row it was computed for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LinearRegression

from service.core.batching import BatchTimeout, MicroBatcher
from service.core.errors import PredictionFailed
from tests.support.models import register_sklearn
from tests.support.serving import serving, settings_for


class Model:
    """Records every batch (key, row ids, when it started); optionally blocks until released, or fails."""

    def __init__(self, fail: Exception | None = None, gate: asyncio.Event | None = None) -> None:
        self.batches: list[tuple[str, list[float], float]] = []
        self.fail = fail
        self.gate = gate

    async def __call__(self, key: str, rows: Any) -> list[Any]:
        self.batches.append((key, rows[:, 0].tolist(), time.monotonic()))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return [float(v) for v in rows[:, 0]]

    @property
    def sizes(self) -> list[int]:
        return [len(ids) for _, ids, _ in self.batches]


def rows(*ids: float) -> Any:
    """One row per id, its first value the id."""
    return np.array([[i, 0.0] for i in ids], dtype=np.float64)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_every_caller_gets_exactly_its_own_rows_back_in_order() -> None:
    model = Model()
    batcher = MicroBatcher(model, max_batch_size=16, max_latency_s=0.05)
    requests = [rows(*range(100 * i, 100 * i + 1 + i % 3)) for i in range(40)]

    async def main() -> list[list[Any]]:
        return await asyncio.gather(*(batcher.submit("m", r) for r in requests))

    answers = run(main())
    assert answers == [r[:, 0].tolist() for r in requests]
    assert sum(model.sizes) == sum(len(r) for r in requests), "every row predicted exactly once"
    assert len(model.batches) < len(requests), "concurrent requests shared batches"
    assert batcher.stats.requests == len(requests)


def test_a_batch_closes_as_soon_as_it_holds_max_batch_size_rows() -> None:
    model = Model()
    batcher = MicroBatcher(model, max_batch_size=4, max_latency_s=30.0)

    async def main() -> float:
        started = time.monotonic()
        await asyncio.gather(*(batcher.submit("m", rows(i)) for i in range(12)))
        return time.monotonic() - started

    elapsed = run(main())
    assert model.sizes == [4, 4, 4]
    assert elapsed < 5, "full batches do not wait for the latency bound"


def test_a_batch_closes_at_max_latency_when_it_does_not_fill() -> None:
    model = Model()
    batcher = MicroBatcher(model, max_batch_size=100, max_latency_s=0.2)

    async def main() -> tuple[float, list[Any]]:
        started = time.monotonic()
        first = asyncio.ensure_future(batcher.submit("m", rows(1)))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(batcher.submit("m", rows(2)))
        answers = await asyncio.gather(first, second)
        return started, answers

    started, answers = run(main())
    assert answers == [[1.0], [2.0]]
    assert model.sizes == [2], "the row that came within the latency bound joined the first one's batch"
    waited = model.batches[0][2] - started
    assert 0.19 <= waited < 1.0, f"the batch ran {waited:.3f}s after its first row; the bound is 0.2s"


def test_a_request_that_does_not_fit_opens_the_next_batch_and_a_big_one_goes_alone() -> None:
    model = Model()
    batcher = MicroBatcher(model, max_batch_size=4, max_latency_s=0.05)

    async def main() -> list[list[Any]]:
        return await asyncio.gather(
            batcher.submit("m", rows(1, 2, 3)),
            batcher.submit("m", rows(4, 5)),  # 3 + 2 > 4: next batch
            batcher.submit("m", rows(6, 7)),
            batcher.submit("m", rows(*range(10, 19))),  # 9 rows > max: alone, never split
        )

    answers = run(main())
    assert answers == [[1.0, 2.0, 3.0], [4.0, 5.0], [6.0, 7.0], [float(i) for i in range(10, 19)]]
    assert [ids for _, ids, _ in model.batches] == [[1, 2, 3], [4, 5, 6, 7], list(range(10, 19))]


def test_rows_of_different_models_are_never_predicted_together() -> None:
    model = Model()
    batcher = MicroBatcher(model, max_batch_size=64, max_latency_s=0.05)
    old, new = "version-1", "version-2"

    async def main() -> list[list[Any]]:
        return await asyncio.gather(
            batcher.submit(old, rows(1)), batcher.submit(new, rows(2)), batcher.submit(new, rows(3))
        )

    assert run(main()) == [[1.0], [2.0], [3.0]]
    # Each model has its own queue and worker, so the two batches may run in either order.
    assert sorted((key, ids) for key, ids, _ in model.batches) == [(old, [1.0]), (new, [2.0, 3.0])]


def test_what_queues_while_the_model_is_busy_forms_the_next_batch_without_waiting() -> None:
    gate = asyncio.Event()
    model = Model(gate=gate)
    batcher = MicroBatcher(model, max_batch_size=64, max_latency_s=0.0)

    async def main() -> list[list[Any]]:
        first = asyncio.ensure_future(batcher.submit("m", rows(0)))
        await asyncio.sleep(0.05)  # the first batch (one row) is running and holds the model
        rest = [asyncio.ensure_future(batcher.submit("m", rows(i))) for i in range(1, 31)]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(first, *rest)

    answers = run(main())
    assert answers == [[float(i)] for i in range(31)]
    assert model.sizes == [1, 30]


def test_an_error_in_the_batch_reaches_every_waiting_caller_and_the_batcher_goes_on() -> None:
    error = PredictionFailed("model m failed to predict: boom")
    model = Model(fail=error)
    batcher = MicroBatcher(model, max_batch_size=8, max_latency_s=0.05)

    async def main() -> tuple[list[Any], list[Any]]:
        failed = await asyncio.gather(*(batcher.submit("m", rows(i)) for i in range(5)), return_exceptions=True)
        model.fail = None
        recovered = await asyncio.gather(*(batcher.submit("m", rows(i)) for i in range(5, 8)))
        return failed, recovered

    failed, recovered = run(main())
    assert model.sizes[0] == 5
    assert all(e is error for e in failed), failed
    assert recovered == [[5.0], [6.0], [7.0]]


def test_a_wrong_number_of_predictions_fails_every_caller_of_the_batch() -> None:
    async def short(key: str, matrix: Any) -> list[Any]:
        return [0.0] * (len(matrix) - 1)

    batcher = MicroBatcher(short, max_batch_size=8, max_latency_s=0.05)

    async def main() -> list[Any]:
        return await asyncio.gather(*(batcher.submit("m", rows(i)) for i in range(3)), return_exceptions=True)

    errors = run(main())
    # The batch of 3 failed, then each request alone (1 row, 0 predictions): every caller gets its own error.
    assert all(isinstance(e, RuntimeError) and "1 rows got 0 predictions" in str(e) for e in errors), errors


def test_a_caller_that_gave_up_is_left_out_of_its_batch() -> None:
    model = Model()
    batcher = MicroBatcher(model, max_batch_size=8, max_latency_s=0.1)

    async def main() -> list[Any]:
        gone = asyncio.ensure_future(batcher.submit("m", rows(99)))
        staying = asyncio.ensure_future(batcher.submit("m", rows(1)))
        await asyncio.sleep(0.01)
        gone.cancel()
        return await staying

    assert run(main()) == [1.0]
    assert [ids for _, ids, _ in model.batches] == [[1.0]]


def test_close_cancels_callers_still_waiting() -> None:
    model = Model(gate=asyncio.Event())
    batcher = MicroBatcher(model, max_batch_size=1, max_latency_s=0.0)

    async def main() -> list[Any]:
        waiting = [asyncio.ensure_future(batcher.submit("m", rows(i))) for i in range(3)]
        await asyncio.sleep(0.05)
        await batcher.close()
        return await asyncio.gather(*waiting, return_exceptions=True)

    outcomes = run(main())
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes), outcomes


def test_a_slow_model_never_delays_another_models_requests() -> None:
    """Each model has its own queue and worker: the champion answers while a challenger batch still runs."""
    gate = asyncio.Event()

    async def predict(key: str, matrix: Any) -> list[Any]:
        if key == "slow":
            await gate.wait()
        return [float(v) for v in matrix[:, 0]]

    batcher = MicroBatcher(predict, max_batch_size=8, max_latency_s=0.0)

    async def main() -> tuple[list[Any], bool]:
        slow = asyncio.ensure_future(batcher.submit("slow", rows(1)))
        await asyncio.sleep(0.01)  # the slow model's batch is running
        fast = await asyncio.wait_for(batcher.submit("fast", rows(2)), 1.0)
        was_waiting = not slow.done()
        gate.set()
        await slow
        return fast, was_waiting

    fast, slow_was_running = run(main())
    assert fast == [2.0] and slow_was_running


def test_a_caller_waits_at_most_the_timeout_and_its_rows_are_left_out() -> None:
    gate = asyncio.Event()
    model = Model(gate=gate)
    batcher = MicroBatcher(model, max_batch_size=1, max_latency_s=0.0, timeout_s=0.1)

    async def main() -> list[Any]:
        first = asyncio.ensure_future(batcher.submit("m", rows(1)))
        queued = asyncio.ensure_future(batcher.submit("m", rows(2)))
        outcomes = await asyncio.gather(first, queued, return_exceptions=True)
        gate.set()
        outcomes.append(await batcher.submit("m", rows(3)))
        return outcomes

    first, queued, later = run(main())
    assert isinstance(first, BatchTimeout) and isinstance(queued, BatchTimeout)
    assert later == [3.0]
    assert [ids for _, ids, _ in model.batches] == [[1.0], [3.0]], "the timed-out queued request never ran"


def test_one_request_that_makes_the_model_raise_fails_alone() -> None:
    """A batch that fails is predicted again request by request before anyone gets an error."""

    async def predict(key: str, matrix: Any) -> list[Any]:
        if (matrix[:, 0] == 13).any():
            raise PredictionFailed("row 13 breaks the model")
        return [float(v) for v in matrix[:, 0]]

    batcher = MicroBatcher(predict, max_batch_size=16, max_latency_s=0.05)

    async def main() -> list[Any]:
        return await asyncio.gather(*(batcher.submit("m", rows(i)) for i in (11, 12, 13, 14)), return_exceptions=True)

    outcomes = run(main())
    assert outcomes[:2] == [[11.0], [12.0]] and outcomes[3] == [14.0]
    assert isinstance(outcomes[2], PredictionFailed)


def test_an_idle_models_lane_goes_away() -> None:
    batcher = MicroBatcher(Model(), max_batch_size=4, max_latency_s=0.0, idle_s=0.05)

    async def main() -> tuple[int, int]:
        await batcher.submit("v1", rows(1))
        during = batcher.lanes
        await asyncio.sleep(0.2)
        return during, batcher.lanes

    assert run(main()) == (1, 0)


@pytest.mark.parametrize(("size", "latency"), [(0, 0.01), (4, -1.0)])
def test_bad_bounds_are_refused(size: int, latency: float) -> None:
    with pytest.raises(ValueError, match="max_batch_size|max_latency_s"):
        MicroBatcher(Model(), max_batch_size=size, max_latency_s=latency)


# ------------------------------------------------------------------------------- through the service

NAME = "svc_batching_lr"


@pytest.fixture(scope="module")
def batched(
    tracking: str, linear: LinearRegression, diabetes: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    register_sklearn(NAME, linear, diabetes[0])
    settings = settings_for(
        tracking,
        NAME,
        tmp_path_factory.mktemp("batching"),
        batch_enabled=True,
        max_batch_size=16,
        max_batch_latency_ms=20,
    )
    with serving(settings) as client:
        yield client


@pytest.mark.slow
def test_concurrent_requests_through_the_service_get_their_own_answers_with_batching_on(
    batched: TestClient, linear: LinearRegression, diabetes: Any
) -> None:
    features = diabetes[0]
    rng = np.random.default_rng(7)
    bodies = [features.iloc[rng.choice(len(features), size=1 + i % 3)] for i in range(48)]

    def call(i: int) -> tuple[int, Any]:
        frame = bodies[i]
        if i % 2:
            response = batched.post("/predict", json={"instances": frame.to_dict(orient="records")})
        else:
            response = batched.post("/invocations", json={"dataframe_split": frame.to_dict(orient="split")})
        return i, response

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(call, range(len(bodies))))
    for i, response in results:
        assert response.status_code == 200, response.text
        expected = linear.predict(bodies[i])
        np.testing.assert_allclose(response.json()["predictions"], expected, rtol=1e-12)
    stats = batched.app.state.data_plane.batcher.stats  # type: ignore[attr-defined]
    assert stats.requests >= len(bodies)
    assert stats.batches < stats.requests, f"requests were not batched together: {stats}"
