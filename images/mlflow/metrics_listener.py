"""Serve the MLflow server's Prometheus metrics on a port of their own, with nothing else on it.

`mlflow server --expose-prometheus <dir>` serves /metrics from the same Flask app and port as its API, behind
basic auth, which in mlflow 3.17.2 fails closed on a route without a permission validator: only the admin may read
it. Its workers keep their counts in prometheus_client's multiprocess files in <dir> (mlflow/server/__init__.py
sets `prometheus_multiproc_dir` to it; prometheus_flask_exporter's GunicornInternalPrometheusMetrics sums them).
This process reads the same files and answers `GET /metrics` with the same sum, and 404 to every other path: it
serves nothing of MLflow's API, so a NetworkPolicy can admit Prometheus to this port without admitting it to MLflow.

It only reads the directory (the pod mounts it read-only here) and writes nothing: no metrics of its own, no logs of
successful requests (the kubelet probes it every few seconds). Runs beside the server in the cluster
(infra/mlflow_metrics.py) and in `make demo` (local/prometheus.py), from the server image as is:
the standard library and prometheus_client, which prometheus-flask-exporter brings.

Usage: python metrics_listener.py --directory <dir> [--host 0.0.0.0] [--port 9102]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

METRICS_PATH = "/metrics"
DEFAULT_PORT = 9102
# A connection that sends nothing for this long is dropped, so a stuck client cannot hold a thread for ever.
SOCKET_TIMEOUT_S = 10.0


def render(directory: str, accept: str) -> tuple[bytes, str]:
    """The sum of every worker's file in `directory`, in the format `accept` asks for (text or OpenMetrics).

    A fresh registry per scrape, as prometheus_client's multiprocess documentation does
    (docs/content/multiprocess/_index.md): the collector globs the directory each time, so new workers count.
    """
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


def handler(directory: str) -> type[BaseHTTPRequestHandler]:
    class MetricsHandler(BaseHTTPRequestHandler):
        server_version = "mlflow-metrics-listener"
        sys_version = ""
        timeout = SOCKET_TIMEOUT_S

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if urlsplit(self.path).path != METRICS_PATH:
                self._answer(HTTPStatus.NOT_FOUND, f"this port serves GET {METRICS_PATH} only\n")
                return
            if not os.path.isdir(directory):
                # The server creates it when its app loads; until then there is nothing to sum.
                self._answer(HTTPStatus.SERVICE_UNAVAILABLE, f"{directory} does not exist (yet)\n")
                return
            try:
                body, content_type = render(directory, self.headers.get("Accept", ""))
            except Exception as e:  # noqa: BLE001 - a broken file must show as a failed scrape, not a dead listener
                self.log_error("collecting %s failed: %r", directory, e)
                self._answer(HTTPStatus.INTERNAL_SERVER_ERROR, "collecting the metrics failed\n")
                return
            self._answer(HTTPStatus.OK, body, content_type)

        def _other_method(self) -> None:
            if urlsplit(self.path).path != METRICS_PATH:
                self._answer(HTTPStatus.NOT_FOUND, f"this port serves GET {METRICS_PATH} only\n")
            else:
                self._answer(HTTPStatus.METHOD_NOT_ALLOWED, "GET only\n", allow="GET")

        do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _other_method  # noqa: N815

        def _answer(
            self, status: HTTPStatus, body: bytes | str, content_type: str = "text/plain; charset=utf-8", **extra: str
        ) -> None:
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name.capitalize(), value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            # Errors still go to stderr through log_error; each scrape and probe would be noise.
            pass

    return MetricsHandler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", required=True, help="the directory given to `mlflow server --expose-prometheus`")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), handler(args.directory))
    server.daemon_threads = True
    # SIGTERM (the kubelet, `make demo-down`) ends the process cleanly rather than by the signal's default.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"metrics_listener: GET http://{args.host}:{args.port}{METRICS_PATH} sums {args.directory}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
