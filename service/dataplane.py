"""The data plane: what the service does for a request, with no HTTP framework in it.

One `DataPlane` per app (built by `create_app`) holds the settings, metrics, variants, drift monitor, cache and
batcher, and answers in plain values: a prediction is bytes in, a `Reply` (status, body, media type, headers)
out, and a request's fault is a `ServiceError` raised, turned into its `Reply` by `error_reply`. The FastAPI
routes (service/routes/) and the fast lane (service/fastlane.py) are transports over the same methods, as
MLServer's handlers/dataplane.py and KServe's protocol/dataplane.py are under their REST and gRPC servers.
"""

from __future__ import annotations

import json
import logging
import platform
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import anyio.to_thread
import mlflow
import orjson
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2

from service import __version__
from service.core.batching import MicroBatcher
from service.core.cache import PredictionCache
from service.core.drift import DriftMonitor
from service.core.errors import (
    InvalidQuery,
    ModelNotReady,
    NonFiniteOutput,
    PayloadTooLarge,
    ServiceError,
    UnsupportedMediaType,
)
from service.core.inputs import Parsed, read_invocations, read_predict
from service.core.loader import LoadedModel
from service.core.predict import Prediction, predict
from service.core.split import Variant
from service.core.validation import Matrix
from service.core.variants import Choice, Variants
from service.metrics import Metrics
from service.settings import Settings
from service.v2.errors import v2_error_body, v2_status

log = logging.getLogger("service.app")

Endpoint = Literal["predict", "invocations"]
JSON = "application/json"

# Bodies this large are parsed in a worker thread, like large batches are predicted there. Parsing holds the GIL
# (orjson, numpy's conversion of Python numbers), so a thread frees the event loop only when the interpreter
# switches threads, every 5 ms (sys.getswitchinterval()): a parse shorter than that blocks the loop as long in a
# thread as inline, and the hop showed as ~5 % of a 1000-row request (docs/performance.md). ~1 MiB of JSON takes
# ~3 ms to parse.
OFFLOAD_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Reply:
    """An answer, ready for any transport to send as it is."""

    status: int
    body: bytes
    media_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)


def render(content: Any) -> bytes:
    """JSON by orjson (several times faster than the standard library on prediction lists)."""
    return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def model_headers(model: LoadedModel, variant: str) -> dict[str, str]:
    return {"X-Model-Name": model.name, "X-Model-Version": model.version, "X-Model-Variant": variant}


def error_reply(error: ServiceError, path: str) -> Reply:
    """The one error mapping: this service's format, or MLflow's on /invocations. Our own faults are logged."""
    if error.status == 500:
        log.error(error.message, exc_info=error.__cause__ or error)
    if path == "/invocations":
        return mlflow_error(error)
    if path.startswith("/v2/") or path == "/v2":
        return Reply(v2_status(error), render(v2_error_body(error)))
    return Reply(error.status, render({"error": error.to_dict()}))


def mlflow_error(error: ServiceError) -> Reply:
    """What `mlflow models serve` answers for the same fault: 415 as text, other errors as MlflowException JSON."""
    if isinstance(error, UnsupportedMediaType):
        return Reply(415, error.message.encode(), "text/plain")
    if isinstance(error, NonFiniteOutput):
        # MLflow writes its predictions with json.dump (allow_nan): 200 with `Infinity`/`NaN` tokens, which
        # Python's json (ScoringServerClient, mlflow.deployments) reads back. Never cached (core/predict.py).
        return Reply(200, json.dumps({"predictions": error.values}).encode())
    exception = MlflowException(
        error.message, error_code=getattr(databricks_pb2, error.mlflow_code), error_class=error.mlflow_error_class
    )
    body: str = exception.serialize_as_json()  # type: ignore[no-untyped-call]
    # MLflow answers every input error with 400; the size limit and readiness are this service's own.
    status = 400 if 400 <= error.status < 500 and error.status not in (413, 415) else error.status
    return Reply(status, body.encode())


class DataPlane:
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        variants: Variants,
        drift: DriftMonitor,
        batcher: MicroBatcher[LoadedModel] | None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.variants = variants
        self.drift = drift
        self.batcher = batcher
        self.cache: PredictionCache | None = None  # connected by the app's lifespan
        self._key_header = variants.split.key_header.lower()

    # ------------------------------------------------------------------------------------------ predictions

    async def read_body(self, declared_length: str | None, chunks: AsyncIterable[bytes]) -> bytes:
        """The body, refused with 413 once it exceeds max_body_bytes: by its Content-Length, or while streaming."""
        limit = self.settings.max_body_bytes
        declared = declared_length or ""
        if declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"the body has {declared} bytes; the limit is {limit}")
        parts = []
        size = 0
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the body exceeds the limit of {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    async def predict(
        self,
        body: bytes,
        content_type: str | None,
        headers: Mapping[str, str],
        endpoint: Endpoint,
        output: str = "predict",
    ) -> Reply:
        """Predict the rows of a body in this service's format (`predict`) or MLflow's (`invocations`).

        `headers` is looked up by lower-case name (the A/B key header). The variant is read once, so the whole
        request uses one model version even if a reload swaps it meanwhile (503 while no champion is loaded).
        `output`: "proba" for a scikit-learn classifier's probabilities (`/predict?output=proba`).
        """
        variants = self.variants
        choice = self.choose(headers)
        schema = choice.model.schema
        max_rows = self.settings.max_batch_rows
        if output not in ("predict", "proba"):
            raise InvalidQuery(f"output={output[:40]!r}: use predict or proba", field="output")
        if endpoint == "invocations":
            rows, params = await _parse(read_invocations, body, content_type, schema, max_rows)
        else:
            rows, params = await _parse(read_predict, body, schema, max_rows)
        if params is not None or output != "predict":
            # The shadow would predict without the request's params or output choice: not comparable.
            choice = replace(choice, shadow=None)
        cache, batcher, offload = self.cache, self.batcher, self.settings.offload_min_rows

        def run(model: LoadedModel) -> Awaitable[Prediction]:
            if output == "proba":
                if model.proba is None:
                    raise InvalidQuery(
                        f"output=proba: model {model.name} version {model.version} has no predict_proba",
                        field="output",
                    )
                model = model.proba
            return predict(model, rows, cache, offload_min_rows=offload, batcher=batcher, params=params)

        variant, result = await self.serve(choice, rows, endpoint, run)
        model = result.model
        if endpoint == "invocations":
            # MLflow's response body has only "predictions": the variant is named in the header alone.
            content: dict[str, Any] = {"predictions": result.values}
        else:
            ref = (
                variants.challenger_ref
                if variant == "challenger" and variants.challenger_ref
                else variants.champion_ref
            )
            info = {"name": model.name, "version": model.version, **ref.describe()}
            content = {"predictions": result.values, "model": info, "variant": variant}
            if (classes := getattr(model.predictor, "classes", None)) is not None:
                content["classes"] = classes  # output=proba: the order of each row's probabilities
        return Reply(200, render(content), headers=model_headers(model, variant))

    def choose(self, headers: Mapping[str, str]) -> Choice:
        """Who answers a request with these headers (the A/B key header, by lower-case name); 503 while no champion
        is loaded."""
        return self.variants.choose(headers.get(self._key_header))

    async def serve(
        self,
        choice: Choice,
        rows: Matrix,
        endpoint: str,
        run: Callable[[LoadedModel], Awaitable[Prediction]] | None = None,
    ) -> tuple[Variant, Prediction]:
        """Predict validated rows with the chosen variant (by `run`, default: the model's predict through the cache
        and batcher), observed by drift and counted under `endpoint`: every protocol's requests go through here."""
        self.drift.observe(rows, choice.champion)
        if run is None:
            cache, batcher, offload = self.cache, self.batcher, self.settings.offload_min_rows

            def run(model: LoadedModel) -> Awaitable[Prediction]:
                return predict(model, rows, cache, offload_min_rows=offload, batcher=batcher)

        served = await self.variants.serve(choice, rows, run)
        self.metrics.tally.inc(self.metrics.predicted[endpoint], len(rows))
        return served

    # ------------------------------------------------------------------------------------------ operations

    def flush(self) -> None:
        """Write what the request path holds back for speed: the per-request series (Metrics.tally) and the rows
        not yet in the drift window. Reading the metrics registry does it too; the lifespan does it every second."""
        self.metrics.tally.flush()
        self.drift.flush()

    def model(self) -> LoadedModel:
        """The champion serving now; ModelNotReady (503) while none is loaded."""
        model = self.variants.champion.current
        if model is None:
            raise ModelNotReady("no model is loaded yet; GET /health tells why")
        return model

    def health(self) -> tuple[int, dict[str, Any]]:
        """Details for operators, and 200 or 503: only the champion decides readiness (a missing challenger or
        drift is a warning, not a reason to stop)."""
        holder, variants = self.variants.champion, self.variants
        served = holder.describe()
        if served["model"] is not None:
            # A stage URI's stage is reported as a stage, not as an alias.
            served["model"] = {k: v for k, v in served["model"].items() if k != "alias"} | (
                variants.champion_ref.describe()
            )
        details: dict[str, Any] = {
            "status": "ready" if holder.current else "not_ready",
            **served,
            "model_ref": self.settings.model_ref().uri,
            "reload_interval_s": self.settings.reload_interval_s,
            "cache": self.cache.describe() if self.cache else {"enabled": False},
            **variants.describe(),
            "drift": self.drift.summary(),
        }
        return (200 if holder.current else 503), details

    def version_details(self) -> dict[str, Any]:
        model = self.variants.champion.current
        ref = self.variants.champion_ref.describe()
        return {
            "service": __version__,
            "mlflow": mlflow.__version__,
            "python": platform.python_version(),
            "model": {"name": model.name, "version": model.version, **ref} if model else None,
        }


async def _parse(parse: Callable[..., Parsed], body: bytes, *args: Any) -> Parsed:
    if len(body) >= OFFLOAD_BODY_BYTES:
        return await anyio.to_thread.run_sync(parse, body, *args)
    return parse(body, *args)


def output_of(query: str) -> str:
    """The `output` query parameter (the last one, as Starlette's QueryParams.get reads it); "predict" when
    absent. Parsed here so FastAPI's routes and the fast lane read it alike."""
    if "output" not in query:
        return "predict"
    from urllib.parse import parse_qsl

    values = [v for k, v in parse_qsl(query, keep_blank_values=True) if k == "output"]
    return values[-1] if values else "predict"
