"""The ceilings: endpoints that answer a constant under the service's own Gunicorn + Uvicorn setup.

- `bench.constant_app:app`: a FastAPI route that reads and decodes the body (as any prediction route must) and
  answers a constant: what the service would cost with a free model and no bookkeeping (a
  performance target asks the service for 75 % of its requests/s).
- `bench.constant_app:bare`: a bare ASGI callable that drains the body and answers the same constant, with no
  framework at all: the physical ceiling of Gunicorn + Uvicorn on this machine.

`gunicorn -c service/gunicorn.conf.py bench.constant_app:app` (or `:bare`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response

ANSWER = orjson.dumps({"predictions": [0.0]})

app = FastAPI(title="constant", openapi_url=None, docs_url=None, redoc_url=None)


@app.post("/invocations")
async def invocations(request: Request) -> Response:
    orjson.loads(await request.body())
    return Response(ANSWER, media_type="application/json")


@app.get("/ping")
async def ping() -> Response:
    return Response(b"ok", media_type="text/plain")


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
_JSON = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]


async def bare(
    scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
) -> None:
    if scope["type"] == "lifespan":
        while True:
            kind = (await receive())["type"]  # lifespan.startup, then lifespan.shutdown
            await send({"type": f"{kind}.complete"})
            if kind == "lifespan.shutdown":
                return
    more = True
    while more:  # drain the body: a server that answers before reading it is not serving a request
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": _JSON})
    await send({"type": "http.response.body", "body": ANSWER})
