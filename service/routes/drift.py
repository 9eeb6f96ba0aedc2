"""`GET /drift`: this worker's comparison of recent inputs with the champion's training statistics."""

from __future__ import annotations

from fastapi import APIRouter

from service.deps import DataPlaneDep
from service.responses import OrjsonResponse

router = APIRouter(tags=["operations"])


@router.get(
    "/drift",
    summary="PSI and out-of-range ratio per feature over the last full window of inputs (this worker's)",
)
async def drift(plane: DataPlaneDep) -> OrjsonResponse:
    return OrjsonResponse(plane.drift.describe())
