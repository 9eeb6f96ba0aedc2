"""Gunicorn settings for the service: `gunicorn -c service/gunicorn.conf.py 'service.app:create_app()'`.

Environment:
- WEB_CONCURRENCY: worker processes (default 2); each loads its own model and follows the alias itself.
- SERVING_BIND: address to listen on (default 0.0.0.0:$PORT, PORT defaulting to 8000).
- SERVING_GRACEFUL_TIMEOUT: seconds a worker has after SIGTERM to finish in-flight requests (default 25, inside
  Kubernetes' 30 s termination grace period and SageMaker's 30 s before SIGKILL).
- PROMETHEUS_MULTIPROC_DIR: where workers write their metrics (a writable tmpdir, required with several workers).
"""

from __future__ import annotations

import gc
import os
import shutil
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess


def _import_heavy_modules() -> None:
    """Import, once in the master, what every worker imports: workers fork with it done and share its pages.

    A worker is then ready about a second after it starts, where importing these itself (skops alone imports
    every scikit-learn module) took it 5-8 s. The app and its model are still made in each worker
    (preload_app is False). Nothing here opens a connection or starts a Python thread or event loop (the
    native pools of OpenBLAS and jemalloc, started by numpy and pyarrow, handle fork themselves).
    """
    import mlflow.pyfunc  # noqa: F401
    import mlflow.sklearn  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    import skops.io  # noqa: F401

    import service.app  # noqa: F401

    # What was imported lives as long as the process: out of the collector's sight, a full collection in a
    # worker no longer walks its ~250k objects (~150 ms, which showed as the p99 of 1000-row requests), and
    # the pages stay shared with the master instead of being written by the collector.
    gc.freeze()


_import_heavy_modules()

bind = [os.environ.get("SERVING_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# uvicorn's worker, draining its connections before it stops (a restart loses no request).
worker_class = "service.worker.DrainingWorker"
graceful_timeout = int(os.environ.get("SERVING_GRACEFUL_TIMEOUT", "25"))
# A worker whose event loop is stuck this long is killed and replaced (model loads run in threads).
timeout = 60
# Longer than the ALB's 60 s idle timeout, so the load balancer closes idle connections first, never us.
keepalive = 75
# Each worker loads its model in its own lifespan; preloading would share one across forks.
preload_app = False
# gunicorn >= 25 opens a control socket under $HOME by default: nothing here needs it.
control_socket_disable = True
# The service writes its own JSON access log line (route, status, latency, request id): every error, and the
# fraction SERVING_ACCESS_LOG_SAMPLE of the other requests.
accesslog = None
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "service.logs.JsonFormatter"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
    "root": {"handlers": ["stdout"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}


def on_starting(server: Any) -> None:
    """Start with an empty metrics directory: files of an earlier run would be counted again."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.iterdir():
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """A worker is gone: drop its live gauges (model info, breaker state) from the aggregate."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
