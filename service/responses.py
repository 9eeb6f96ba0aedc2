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
