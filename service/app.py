"""The application factory: `create_app(settings)`; Gunicorn runs `service.app:create_app()`.

The lifespan owns what a worker holds: the model (through the holder its reloader keeps current) and the
Redis client. Routes reach them through `service.deps`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import FastAPI, Request, Response
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2

from service import __version__
from service.core.cache import CircuitBreaker, PredictionCache
from service.core.cachecost import CachePolicy
from service.core.drift import DriftMonitor
from service.core.errors import NonFiniteOutput, ServiceError, UnsupportedMediaType
from service.core.model import Registry, configure_mlflow_client
from service.core.predict import model_batcher
from service.core.shadow import Shadow
from service.core.variants import Split, Variants
from service.logs import configure_logging
from service.metrics import Metrics
from service.middleware import RequestContext
from service.responses import OrjsonResponse
from service.routes import drift, health, predict
from service.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service; settings from the `SERVING_*` environment unless given."""
    settings = settings or Settings()  # type: ignore[call-arg]  # required fields come from the environment
    configure_logging(settings.log_level)
    app = FastAPI(
        title="Inference service",
        version=__version__,
        summary="Serves the registered model that the registry alias points at; follows the alias.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.variants = _variants(settings, app.state.metrics)
    app.state.holder = app.state.variants.champion
    app.state.drift = DriftMonitor(settings.drift_window_rows, settings.drift_threshold, app.state.metrics.registry)
    app.state.cache = None
    app.state.batcher = (
        model_batcher(settings.max_batch_size, settings.max_batch_latency_ms / 1000, settings.batch_timeout_s)
        if settings.batch_enabled
        else None
    )
    app.include_router(predict.router)
    app.include_router(health.router)
    app.include_router(drift.router)
    app.add_exception_handler(ServiceError, handle_service_error)  # type: ignore[arg-type]
    # Unexpected exceptions are answered by RequestContext itself: a handler for `Exception` would run in
    # Starlette's ServerErrorMiddleware, outside RequestContext, with no request id to log or return.
    app.add_middleware(
        RequestContext, metrics=app.state.metrics, holder=app.state.holder, access_sample=settings.access_log_sample
    )
    return app


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    ref = settings.model_ref()
    if ref.stage:
        log.warning(
            "model stage URIs are deprecated (MLflow 3 replaced stages by aliases); "
            f"serving {ref.uri} for now, set SERVING_MODEL_ALIAS instead",
            extra={"model_uri": ref.uri},
        )
    configure_mlflow_client(
        settings.mlflow_timeout_s,
        settings.mlflow_max_retries,
        settings.mlflow_username_file,
        settings.mlflow_password_file,
    )
    model_dir = _worker_model_dir(settings.model_dir)
    variants: Variants = app.state.variants
    cache = _connect_cache(settings, app.state.metrics)
    app.state.cache = cache
    if cache is not None:
        await cache.check()
    # A registry URI may carry credentials (https://user:token@host): only its host goes to the log.
    registry = re.sub(r"//[^/@]*@", "//", settings.registry_uri)
    challenger = variants.challenger_ref.uri if variants.challenger_ref else None
    log.info(
        "starting",
        extra={"model_ref": ref.uri, "challenger": challenger, "registry": registry, "cache": cache is not None},
    )
    try:
        async with anyio.create_task_group() as tasks:
            first_check_done = variants.start(
                tasks,
                Registry(settings.registry_uri),
                model_dir,
                settings.reload_interval_s,
                app.state.metrics,
                policy=settings.trust_policy(),
                expected=settings.contract(),
                retire_grace_s=settings.retire_grace_s,
                retry_max_s=settings.load_retry_max_s,
                on_load=cache.calibrate if cache is not None else None,
            )
            # Until the champion's first load is done (or has failed) this worker accepts no connection, so under
            # Gunicorn requests go to the workers that have a model rather than to a 503.
            with anyio.move_on_after(settings.startup_load_timeout_s):
                await first_check_done.wait()
            yield
            tasks.cancel_scope.cancel()
    finally:
        if app.state.batcher is not None:
            await app.state.batcher.close()
        if cache is not None:
            await cache.close()
        shutil.rmtree(model_dir, ignore_errors=True)


def _variants(settings: Settings, metrics: Metrics) -> Variants:
    """The champion, and the challenger with its A/B split and shadow queue when one is configured."""
    challenger = settings.challenger_ref()
    shadow = None
    if challenger is not None and settings.shadow_fraction > 0:
        shadow = Shadow(
            settings.shadow_fraction, settings.shadow_queue_size, settings.shadow_log_sample, metrics.registry
        )
    split = Split(settings.weights(), settings.ab_key_header, settings.ab_unkeyed)
    return Variants(settings.model_ref(), challenger, split, shadow, metrics.registry)


def _connect_cache(settings: Settings, metrics: Metrics) -> PredictionCache | None:
    url = settings.resolved_cache_url() if settings.cache_enabled else None
    if url is None:
        return None
    breaker = CircuitBreaker(settings.cache_breaker_failures, settings.cache_breaker_cooldown_s)
    return PredictionCache.connect(
        url,
        ca_cert=settings.cache_ca_cert,
        timeout_s=settings.cache_timeout_s,
        ttl_s=settings.cache_ttl_s,
        key_prefix=settings.cache_key_prefix,
        breaker=breaker,
        metrics=metrics,
        signing_key=settings.resolved_cache_signing_key(),
        max_pending_sets=settings.cache_max_pending_sets,
        policy=CachePolicy(settings.cache_mode, on_change=metrics.set_cache_pays),
    )


def _worker_model_dir(root: Path) -> Path:
    """A download directory of this app instance's own; directories left by dead workers are removed."""
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob("worker-*"):
        match = re.match(r"worker-(\d+)-", stale.name)
        if match and not _pid_alive(int(match[1])):
            shutil.rmtree(stale, ignore_errors=True)
    own = root / f"worker-{os.getpid()}-{secrets.token_hex(4)}"
    own.mkdir()
    return own


def _pid_alive(pid: int) -> bool:
    # local/servers.py has a fuller one; the image ships service/ alone, so the service keeps its own.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def handle_service_error(request: Request, error: ServiceError) -> Response:
    """The one handler for request errors: this service's format, or MLflow's on /invocations."""
    if error.status == 500:
        log.error(error.message, exc_info=error.__cause__ or error)
    if request.url.path == "/invocations":
        return mlflow_error(error)
    return OrjsonResponse({"error": error.to_dict()}, status_code=error.status)


def mlflow_error(error: ServiceError) -> Response:
    """What `mlflow models serve` answers for the same fault: 415 as text, other errors as MlflowException JSON."""
    if isinstance(error, UnsupportedMediaType):
        return Response(error.message, status_code=415, media_type="text/plain")
    if isinstance(error, NonFiniteOutput):
        # MLflow writes its predictions with json.dump (allow_nan): 200 with `Infinity`/`NaN` tokens, which
        # Python's json (ScoringServerClient, mlflow.deployments) reads back. Never cached (core/predict.py).
        return Response(json.dumps({"predictions": error.values}), status_code=200, media_type="application/json")
    exception = MlflowException(
        error.message, error_code=getattr(databricks_pb2, error.mlflow_code), error_class=error.mlflow_error_class
    )
    body: str = exception.serialize_as_json()  # type: ignore[no-untyped-call]
    # MLflow answers every input error with 400; the size limit and readiness are this service's own.
    status = 400 if 400 <= error.status < 500 and error.status not in (413, 415) else error.status
    return Response(body, status_code=status, media_type="application/json")
