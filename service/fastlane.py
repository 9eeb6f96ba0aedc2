"""The fast lane: `POST /predict` and `POST /invocations` answered in front of FastAPI's routing.

FastAPI's routing, dependency resolution and request and response objects cost more per request than a one-row
prediction does (before this lane ~80 % of each request was outside the model and the HTTP server;
docs/performance.md). This plain ASGI handler reads the body, calls the same data plane methods as the FastAPI
routes (service/routes/predict.py), maps errors with the same `error_reply` and sends what the same Starlette
response sends, so statuses, bodies and headers are byte for byte those of the routes (a test holds the two to one
table of requests). It sits inside RequestContext (request id, model headers, access log, latency metric, the 500
answer) and sets the matched route in the scope as FastAPI's routing does, for the metric's route label. The routes
stay declared in FastAPI: they are the OpenAPI document, and the answer when the lane is off
(`SERVING_FAST_LANE=false`).

The Open Inference Protocol's `POST /v2/models/{name}[/versions/{version}]/infer` takes the same lane when the
app hands it those two routes (service/v2/protocol.py `infer`, the call its FastAPI routes make).

Anything else (other methods and paths, a mounted root path) goes on to FastAPI untouched.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from service.core.errors import ServiceError
from service.dataplane import DataPlane, Endpoint, Reply, error_reply, output_of
from service.responses import raw_headers
from service.v2 import protocol as v2

# FastAPI's `{name}` and `{version}` match one path segment each (Starlette's default `str` convertor: `[^/]+`).
V2_INFER = re.compile(r"/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?/infer")


class FastLane:
    def __init__(
        self,
        app: ASGIApp,
        plane: DataPlane,
        routes: Mapping[str, tuple[Endpoint, BaseRoute]],
        v2_routes: tuple[BaseRoute, BaseRoute] | None = None,
    ) -> None:
        """`routes`: path -> (data plane endpoint, the FastAPI route declaring it); `v2_routes`: the FastAPI routes
        of V2 inference, unversioned and versioned (None: V2 goes through FastAPI)."""
        self.app = app
        self.plane = plane
        self.routes = dict(routes)
        self.v2_routes = v2_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        post = scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path")
        path = scope["path"] if post else ""
        lane = self.routes.get(path)
        v2_match = V2_INFER.fullmatch(path) if lane is None and self.v2_routes and post else None
        plane = self.plane
        answer: Callable[[bytes], Awaitable[Reply]]
        if lane is not None:
            endpoint, scope["route"] = lane

            def answer(body: bytes) -> Awaitable[Reply]:
                # Only /predict has `output` (MLflow's /invocations has no such parameter: the route ignores it).
                query = scope.get("query_string", b"").decode("latin-1") if endpoint == "predict" else ""
                return plane.predict(body, headers.get("content-type"), headers, endpoint, output_of(query))
        elif v2_match is not None and self.v2_routes is not None:
            name, version = v2_match["name"], v2_match["version"]
            scope["route"] = self.v2_routes[version is not None]
            scope["path_params"] = {"name": name} if version is None else {"name": name, "version": version}

            def answer(body: bytes) -> Awaitable[Reply]:
                return v2.infer(plane, name, version, body, headers)
        else:
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)  # read by `answer`
        try:
            body = await plane.read_body(headers.get("content-length"), _Body(receive))
            reply = await answer(body)
        except ServiceError as error:
            reply = error_reply(error, path)
        # What a Starlette Response of the reply sends (service/responses.py), without making one.
        await send({"type": "http.response.start", "status": reply.status, "headers": raw_headers(reply)})
        await send({"type": "http.response.body", "body": reply.body})


def _headers(scope: Scope) -> dict[str, str]:
    """Header values by lower-case name; the first of repeated names, as Starlette's `Headers.get` reads them."""
    found: dict[str, str] = {}
    for key, value in scope["headers"]:
        name = key.decode("latin-1")
        if name not in found:
            found[name] = value.decode("latin-1")
    return found


class _Body:
    """The body's chunks as they arrive, as Starlette's `Request.stream` yields them (and ClientDisconnect). An
    iterator object rather than an async generator: asyncio registers every async generator in a weak set and
    finalizes it, a cost per request."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.done = False

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        while not self.done:
            message = await self.receive()
            if message["type"] == "http.request":
                self.done = not message.get("more_body", False)
                chunk: bytes = message.get("body", b"")
                if chunk:
                    return chunk
            elif message["type"] == "http.disconnect":
                raise ClientDisconnect()
        raise StopAsyncIteration
