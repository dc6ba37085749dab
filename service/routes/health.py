"""Liveness (``/healthz``), readiness (``/readyz``) and store state."""

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
    return JSONResponse(_health(request, state))


@router.get(
    "/readyz",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "Not ready: no store"}},
)
async def readyz(request: Request, state: State) -> JSONResponse:
    """Readiness, for a load balancer or Kubernetes' ``readinessProbe``: the
    ``/healthz`` body, with 503 while it is ``degraded``. ``/healthz`` says
    200 then (the process is alive, and restarting it does not bring a
    database back), so a balancer that reads only the status kept sending
    checkouts to a replica that refused every hold with 503."""
    health = _health(request, state)
    return JSONResponse(health, status_code=200 if health["store"] else 503)


def _health(request: Request, state: State) -> dict[str, object]:
    follower: CapacityFollower | None = getattr(request.app.state, "follower", None)
    store = state.router.store is not None and not (
        follower is not None
        and (follower.store_unreachable or bool(follower.schema_newer))
    )
    return {
        "status": "ok" if store else "degraded",
        "store": store,
        "subscribers": state.hub.n_subscribers,
    }
