"""The request path: predicting a validated batch with a loaded version, through the cache and the batcher.

The predict paths themselves (native, pyfunc) are service/core/predictors.py.
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import numpy as np
import orjson

from service.core.batching import BatchTimeout, MicroBatcher
from service.core.errors import InputRejected, ModelBusy, NonFiniteOutput, PredictionFailed
from service.core.outputs import first_non_finite_record
from service.core.validation import Matrix

if TYPE_CHECKING:
    from service.core.cache import PredictionCache
    from service.core.loader import LoadedModel


@dataclass(frozen=True)
class Prediction:
    values: list[Any]
    model: LoadedModel
    cache_hits: int


async def predict(
    model: LoadedModel,
    rows: Matrix,
    cache: PredictionCache | None,
    *,
    offload_min_rows: int,
    batcher: MicroBatcher[LoadedModel] | None = None,
    params: dict[str, Any] | None = None,
) -> Prediction:
    """Predictions for every row: cached ones from one MGET, the rest from the model, then one background SET.

    With a batcher, the rows the model computes are predicted together with other requests' rows. A non-finite
    output raises NonFiniteOutput (for every variant) before anything is cached. Rows sent with `params` are
    not batched with other requests' (their params may differ) and are cached under keys of those params;
    record outputs (a DataFrame's rows) are not cached.
    """
    n = len(rows)
    cache_key = model.cache_key
    if params:
        batcher = None
        cache_key = f"{cache_key}:{params_digest(params)}"
    if model.output_kind == "record":
        cache = None

    async def compute(todo: Matrix) -> list[Any]:
        if params:
            return await run_model(model, todo, offload=len(todo) >= offload_min_rows, params=params)
        if batcher is not None:
            try:
                return await batcher.submit(model, todo)
            except BatchTimeout as e:
                raise ModelBusy(f"model {model.name} version {model.version}: {e}") from e
        return await run_model(model, todo, offload=len(todo) >= offload_min_rows)

    numeric = model.output_kind == "number"
    cost_key = model.cache_key
    # Asked only where a hit saves more than the round trip costs (service/core/cachecost.py).
    if cache is None or not cache.wanted(cost_key, model.name, model.version, n):
        started = time.perf_counter()
        answers = await compute(rows)
        if cache is not None:
            cache.policy.observe_compute(cost_key, n, time.perf_counter() - started)
        if numeric and (bad := first_non_finite(answers)) is not None:
            raise _non_finite(model, bad, answers)
        if model.output_kind == "record" and (bad := first_non_finite_record(answers)) is not None:
            raise _non_finite(model, bad, answers)
        return Prediction(answers, model, cache_hits=0)
    started = time.perf_counter()
    keys = cache.keys(cache_key, rows)
    values, asked = await cache.lookup(keys, model.output_shape, model.output_kind)
    cache_s = time.perf_counter() - started
    misses = [i for i, v in enumerate(values) if v is None]
    if misses:
        todo = rows if len(misses) == n else rows[misses]
        started = time.perf_counter()
        computed = await compute(todo)
        finished = time.perf_counter()
        cache.policy.observe_compute(cost_key, len(misses), finished - started)
        for i, value in zip(misses, computed, strict=True):
            values[i] = value
        if numeric and (bad := first_non_finite(computed)) is not None:
            raise _non_finite(model, misses[bad], values)
        # Written in the background: the answer does not wait for Redis.
        cache.put_many(
            {keys[i]: v for i, v in zip(misses, computed, strict=True)}, model.output_shape, model.output_kind
        )
        cache_s += time.perf_counter() - finished
    if asked:
        cache.policy.observe_cache(cost_key, n, n - len(misses), cache_s)
    return Prediction(values, model, cache_hits=n - len(misses))


def params_digest(params: dict[str, Any]) -> str:
    """The validated params as a cache-key part: sorted keys, typed JSON (`1` and `1.0` and `"1"` differ)."""
    return hashlib.blake2b(orjson.dumps(params, option=orjson.OPT_SORT_KEYS), digest_size=12).hexdigest()


def first_non_finite(values: list[Any]) -> int | None:
    """The index of the first row whose prediction is infinite or NaN; None when all are finite. Only for numeric
    outputs: a label "nan" is a string numpy would read as a number."""
    try:
        # A sum of numbers is finite only if every one is (4x cheaper than numpy's check on 1000 floats); an
        # infinite sum of finite numbers, or outputs that are lists or labels, take the exact path below.
        if math.isfinite(sum(values, 0.0)):
            return None
    except TypeError:
        pass
    try:
        finite = np.isfinite(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError):
        return None
    if finite.all():
        return None
    return int(np.argwhere(~finite)[0][0])


def _non_finite(model: LoadedModel, row: int, values: list[Any]) -> NonFiniteOutput:
    return NonFiniteOutput(
        f"row {row}: model {model.name} version {model.version} predicted {values[row]}, not a finite number; "
        "the input is outside the range the model can answer",
        row=row,
        values=values,
    )


def model_batcher(max_batch_size: int, max_latency_s: float, timeout_s: float = 30.0) -> MicroBatcher[LoadedModel]:
    """A batcher over the model's own predict; each batch runs in a worker thread, off the event loop."""

    async def run(model: LoadedModel, rows: Matrix) -> list[Any]:
        return await run_model(model, rows, offload=True)

    return MicroBatcher(run, max_batch_size=max_batch_size, max_latency_s=max_latency_s, timeout_s=timeout_s)


async def run_model(
    model: LoadedModel, rows: Matrix, *, offload: bool, params: dict[str, Any] | None = None
) -> list[Any]:
    """The model's output as JSON-ready values, one per row; big batches run in a worker thread."""
    fn: Any = model.predictor.predict
    if params is not None:  # only pyfunc predictors take params: a model with a params schema is served there
        fn = functools.partial(model.predictor.predict, params=params)  # type: ignore[call-arg]
    try:
        if offload:
            out = await anyio.to_thread.run_sync(fn, rows)
        else:
            out = fn(rows)
    except ValueError as e:
        if model.schema.numeric:
            raise PredictionFailed(f"model {model.name} version {model.version} failed to predict: {e!r}") from e
        # A string column's value the model does not know (an unseen category): the caller's input, answered
        # 4xx as `mlflow models serve` answers any predict error (400 BAD_REQUEST).
        raise InputRejected(f"model {model.name} version {model.version} cannot predict these rows: {e}") from e
    except Exception as e:
        raise PredictionFailed(f"model {model.name} version {model.version} failed to predict: {e!r}") from e
    result: list[Any] = out.tolist()
    if len(result) != len(rows):
        raise PredictionFailed(
            f"model {model.name} version {model.version} returned {len(result)} rows for {len(rows)}"
        )
    return result
