"""The ceiling: a bare FastAPI endpoint answering a constant, under the service's own Gunicorn + Uvicorn setup.

`gunicorn -c service/gunicorn.conf.py bench.constant_app:app`. It reads no body and runs no model: what is left
is the HTTP stack, so the service's throughput can be put in proportion to it.
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Response

ANSWER = orjson.dumps({"predictions": [0.0]})

app = FastAPI(title="constant", openapi_url=None, docs_url=None, redoc_url=None)


@app.post("/invocations")
async def invocations() -> Response:
    return Response(ANSWER, media_type="application/json")


@app.get("/ping")
async def ping() -> Response:
    return Response(b"ok", media_type="text/plain")
