"""Liveness and store state."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tierflow.service.schemas import HealthOut
from tierflow.service.state import State

router = APIRouter(tags=["service"])


@router.get("/healthz", response_model=HealthOut)
async def healthz(state: State) -> JSONResponse:
    """Liveness, on the event loop without touching the router's lock;
    ``degraded`` when the router has no state store (no reservations)."""
    store = state.router.store is not None
    return JSONResponse(
        {
            "status": "ok" if store else "degraded",
            "store": store,
            "subscribers": state.hub.n_subscribers,
        }
    )
