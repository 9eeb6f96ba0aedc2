"""Per-request context: the request id (X-Request-ID in and out), the model headers, the access log line,
latency metrics, and the 500 answer to an exception nothing else handled (logged and answered here, where the
request id is still known).

Plain ASGI rather than Starlette's BaseHTTPMiddleware, which costs a task and a stream copy per request.
"""

from __future__ import annotations

import logging
import random
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.loader import LoadedModel
from service.core.reload import ModelHolder
from service.core.telemetry import request_id
from service.logs import accept_request_id
from service.metrics import Metrics
from service.responses import OrjsonResponse

access_log = logging.getLogger("service.access")
log = logging.getLogger("service.app")

# Probes and scrapes would drown the access log; they are logged at DEBUG.
QUIET_ROUTES = frozenset({"/health/live", "/health/ready", "/health", "/ping", "/metrics"})


class RequestContext:
    def __init__(self, app: ASGIApp, metrics: Metrics, holder: ModelHolder, access_sample: float = 1.0) -> None:
        """`access_sample`: the fraction of successful requests logged (errors always are)."""
        self.app = app
        self.metrics = metrics
        self.holder = holder
        self.access_sample = access_sample
        self._named: tuple[object, list[tuple[bytes, bytes]]] = (None, [])

    def _model_headers(self, model: LoadedModel) -> list[tuple[bytes, bytes]]:
        """X-Model-Name and X-Model-Version of `model`, encoded once per version served."""
        named, headers = self._named
        if named is not model:
            headers = [(b"x-model-name", model.name.encode("latin-1")), (b"x-model-version", model.version.encode())]
            self._named = (model, headers)
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None)
        rid = accept_request_id(incoming)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                # Raw header pairs (lower-case names, as the ASGI spec has them), not a MutableHeaders per
                # answer: a copy without any X-Request-ID the app set, then this request's.
                headers = [h for h in message.get("headers", ()) if h[0] != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode("latin-1")))
                # The worker is stopping (service/worker.py): the client must not send another request here.
                if getattr(scope["app"].state, "draining", False):
                    headers = [h for h in headers if h[0] != b"connection"]
                    headers.append((b"connection", b"close"))
                # Prediction routes set the version they used; other answers (errors too) name the current one.
                model = self.holder.current
                if model is not None and not any(h[0] == b"x-model-version" for h in headers):
                    headers.extend(self._model_headers(model))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:
            log.exception("unhandled error", exc_info=error)
            if response_started:
                raise  # half an answer is out: the server can only drop the connection
            message = f"internal error (request id {rid})"
            response = OrjsonResponse({"error": {"code": "internal_error", "message": message}}, status_code=500)
            await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            # The route template, not the raw path, keeps the label set bounded.
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(template, scope["method"], status, elapsed)
            sample = self.access_sample
            if status >= 400 or sample >= 1.0 or (sample > 0.0 and random.random() < sample):  # noqa: S311
                access_log.log(
                    logging.DEBUG if template in QUIET_ROUTES else logging.INFO,
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": template,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                    },
                )
            request_id.reset(token)
