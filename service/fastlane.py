"""The fast lane: `POST /predict` and `POST /invocations` answered in front of FastAPI's routing.

FastAPI's routing, dependency resolution and request and response objects cost more per request than a one-row
prediction does (issue 18 measured ~80 % of each request outside the model and the HTTP server). This plain ASGI
handler reads the body, calls the same data plane methods as the FastAPI routes (service/routes/predict.py), maps
errors with the same `error_reply` and sends the same Starlette response, so statuses, bodies and headers are
byte for byte those of the routes (a test holds the two to one table of requests). It sits inside
RequestContext (request id, model headers, access log, latency metric, the 500 answer) and sets the matched
route in the scope as FastAPI's routing does, for the metric's route label. The routes stay declared in FastAPI:
they are the OpenAPI document, and the answer when the lane is off (`SERVING_FAST_LANE=false`).

Anything else (other methods and paths, a mounted root path) goes on to FastAPI untouched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from service.core.errors import ServiceError
from service.dataplane import DataPlane, Endpoint, error_reply
from service.responses import to_response


class FastLane:
    def __init__(self, app: ASGIApp, plane: DataPlane, routes: Mapping[str, tuple[Endpoint, BaseRoute]]) -> None:
        """`routes`: path -> (data plane endpoint, the FastAPI route declaring it)."""
        self.app = app
        self.plane = plane
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self.routes.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if lane is None or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        endpoint, route = lane
        scope["route"] = route
        headers = _headers(scope)
        plane = self.plane
        try:
            body = await plane.read_body(headers.get("content-length"), _body(receive))
            reply = await plane.predict(body, headers.get("content-type"), headers, endpoint)
        except ServiceError as error:
            reply = error_reply(error, scope["path"])
        await to_response(reply)(scope, receive, send)


def _headers(scope: Scope) -> dict[str, str]:
    """Header values by lower-case name; the first of repeated names, as Starlette's `Headers.get` reads them."""
    found: dict[str, str] = {}
    for key, value in scope["headers"]:
        name = key.decode("latin-1")
        if name not in found:
            found[name] = value.decode("latin-1")
    return found


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive, as Starlette's `Request.stream` yields them (and ClientDisconnect)."""
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()
