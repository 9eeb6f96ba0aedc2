"""What routes get from the app: the data plane, their single dependency (tests override `get_data_plane`).

`async def`: FastAPI would run a plain function in the thread pool, a thread hop per request.
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from service.dataplane import DataPlane


async def get_data_plane(request: Request) -> DataPlane:
    return cast(DataPlane, request.app.state.data_plane)


DataPlaneDep = Annotated[DataPlane, Depends(get_data_plane)]
