"""Responses: JSON rendered by orjson, and a data plane `Reply` as a Starlette response."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from service.dataplane import Reply, render


class OrjsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return render(content)


def to_response(reply: Reply) -> Response:
    return Response(reply.body, status_code=reply.status, headers=reply.headers, media_type=reply.media_type)


def raw_headers(reply: Reply) -> list[tuple[bytes, bytes]]:
    """The header pairs `to_response(reply)` sends, in its order, without building the response (the fast lane
    sends them itself): the reply's own, then Content-Length (not for 1xx, 204, 304), then Content-Type, with
    Starlette's charset on text types, unless the reply set them (tests/service/test_fastlane.py holds the two
    equal)."""
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()]
    given = {name for name, _ in raw} if raw else set()
    status = reply.status
    if b"content-length" not in given and not (status < 200 or status in (204, 304)):
        raw.append((b"content-length", str(len(reply.body)).encode("latin-1")))
    if b"content-type" not in given:
        media_type = reply.media_type
        if media_type.startswith("text/") and "charset=" not in media_type.lower():
            media_type += "; charset=" + Response.charset
        raw.append((b"content-type", media_type.encode("latin-1")))
    return raw
