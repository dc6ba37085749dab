"""Liveness and store state."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tierflow.service.feed import CapacityFollower
from tierflow.service.schemas import HealthOut
from tierflow.service.state import State

router = APIRouter(tags=["service"])


@router.get("/healthz", response_model=HealthOut)
async def healthz(request: Request, state: State) -> JSONResponse:
    """Liveness, on the event loop without touching the router's lock;
    ``degraded`` when the router has no state store (no reservations) or
    the capacity follower's last read of it failed (a database gone away)
    or found it migrated past this code's schema (writes refused)."""
    follower: CapacityFollower | None = getattr(request.app.state, "follower", None)
    store = state.router.store is not None and not (
        follower is not None
        and (follower.store_unreachable or bool(follower.schema_newer))
    )
    return JSONResponse(
        {
            "status": "ok" if store else "degraded",
            "store": store,
            "subscribers": state.hub.n_subscribers,
        }
    )
