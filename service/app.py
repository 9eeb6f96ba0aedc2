"""The application factory: `create_app(settings)`; Gunicorn runs `service.app:create_app()`.

The app holds one data plane (service/dataplane.py): settings, metrics, variants, drift, cache and batcher.
The lifespan owns what a worker holds: the models (through the holders their reloaders keep current) and the
Redis client. Routes reach the data plane through `service.deps`.
"""

from __future__ import annotations

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
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from service import __version__
from service.core.cache import CircuitBreaker, PredictionCache
from service.core.cachecost import CachePolicy
from service.core.drift import DriftMonitor
from service.core.errors import ServiceError
from service.core.predict import model_batcher
from service.core.registry import ModelRegistryClient, configure_mlflow_client
from service.core.shadow import Shadow
from service.core.split import Split
from service.core.variants import Variants
from service.dataplane import DataPlane, Endpoint, error_reply
from service.fastlane import FastLane
from service.logs import configure_logging
from service.metrics import Metrics
from service.middleware import RequestContext
from service.responses import to_response
from service.routes import drift, health, predict
from service.settings import Settings
from service.v2 import routes as v2

log = logging.getLogger(__name__)

FLUSH_S = 1.0


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service; settings from the `SERVING_*` environment unless given."""
    settings = settings or Settings()  # type: ignore[call-arg]  # required fields come from the environment
    configure_logging(settings.log_level)
    app = FastAPI(
        title="Inference service",
        version=__version__,
        summary="Serves the registered model that the registry alias points at; follows the alias.",
        lifespan=lifespan,
        # The service reports through Prometheus (service/metrics.py) and its JSON log. FastAPI's own OpenTelemetry
        # instrumentation, on by default, looks up three global providers on every request to find none set.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.draining = False  # set by service/worker.py when the worker stops; read on every answer
    metrics = Metrics()
    plane = DataPlane(
        settings,
        metrics,
        _variants(settings, metrics),
        DriftMonitor(settings.drift_window_rows, settings.drift_threshold, metrics.registry),
        model_batcher(settings.max_batch_size, settings.max_batch_latency_ms / 1000, settings.batch_timeout_s)
        if settings.batch_enabled
        else None,
    )
    app.state.data_plane = plane
    app.include_router(predict.router)
    app.include_router(health.router)
    app.include_router(drift.router)
    app.include_router(v2.router)
    app.add_exception_handler(ServiceError, handle_service_error)  # type: ignore[arg-type]
    if settings.fast_lane:
        # The routes FastAPI puts in the scope when it matches them (the latency metric's route label).
        declared = {route.path: route for route in predict.router.routes if isinstance(route, APIRoute)}
        lanes: dict[str, tuple[Endpoint, BaseRoute]] = {
            "/predict": ("predict", declared["/predict"]),
            "/invocations": ("invocations", declared["/invocations"]),
        }
        # Inside RequestContext (added after it, so it runs first): the lane's answers get the same headers,
        # access line and metrics.
        v2_declared = {route.path: route for route in v2.router.routes if isinstance(route, APIRoute)}
        v2_lanes = (v2_declared["/v2/models/{name}/infer"], v2_declared["/v2/models/{name}/versions/{version}/infer"])
        app.add_middleware(FastLane, plane=plane, routes=lanes, v2_routes=v2_lanes)
    # Unexpected exceptions are answered by RequestContext itself: a handler for `Exception` would run in
    # Starlette's ServerErrorMiddleware, outside RequestContext, with no request id to log or return.
    app.add_middleware(
        RequestContext, metrics=metrics, holder=plane.variants.champion, access_sample=settings.access_log_sample
    )
    return app


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    plane: DataPlane = app.state.data_plane
    settings = plane.settings
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
    variants = plane.variants
    cache = _connect_cache(settings, plane.metrics)
    plane.cache = cache
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
                ModelRegistryClient(settings.registry_uri),
                model_dir,
                settings.reload_interval_s,
                plane.metrics,
                policy=settings.trust_policy(),
                expected=settings.contract(),
                retire_grace_s=settings.retire_grace_s,
                retry_max_s=settings.load_retry_max_s,
                on_load=cache.calibrate if cache is not None else None,
            )
            tasks.start_soon(_flush_every, plane, FLUSH_S)
            # Until the champion's first load is done (or has failed) this worker accepts no connection, so under
            # Gunicorn requests go to the workers that have a model rather than to a 503.
            with anyio.move_on_after(settings.startup_load_timeout_s):
                await first_check_done.wait()
            yield
            tasks.cancel_scope.cancel()
    finally:
        plane.flush()
        if plane.batcher is not None:
            await plane.batcher.close()
        if cache is not None:
            await cache.close()
        shutil.rmtree(model_dir, ignore_errors=True)


async def _flush_every(plane: DataPlane, interval_s: float) -> None:
    """What the request path holds back written every `interval_s` (under Gunicorn another worker may answer the
    scrape: this worker's requests reach it at most this late)."""
    while True:
        await anyio.sleep(interval_s)
        plane.flush()


def _variants(settings: Settings, metrics: Metrics) -> Variants:
    """The champion, and the challenger with its A/B split and shadow queue when one is configured."""
    challenger = settings.challenger_ref()
    shadow = None
    if challenger is not None and settings.shadow_fraction > 0:
        shadow = Shadow(
            settings.shadow_fraction, settings.shadow_queue_size, settings.shadow_log_sample, metrics.registry
        )
    split = Split(settings.weights(), settings.ab_key_header, settings.ab_unkeyed)
    return Variants(settings.model_ref(), challenger, split, shadow, metrics.registry, metrics.tally)


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
    """The one handler for request errors (service/dataplane.py maps them, the fast lane alike)."""
    return to_response(error_reply(error, request.url.path))
