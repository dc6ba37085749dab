"""``GET /metrics``: the service's Prometheus metrics (``docs/service.md``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tierflow.service.metrics import CONTENT_TYPE
from tierflow.service.query_params import NO_QUERY_422, QUERY_AS_DECLARED
from tierflow.service.state import OperatorRead, ServiceState

router = APIRouter(tags=["service"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE.split(";")[0]: {}},
            "description": "Prometheus text format",
        },
        **NO_QUERY_422,
    },
    summary="Prometheus metrics (latency, options per tier, overflow, holds, ...)",
    # the API key (Prometheus: a bearer token) with --operator-reads key
    dependencies=[OperatorRead, QUERY_AS_DECLARED],
)
def get_metrics(request: Request) -> Response:
    """Counters summed over every worker of ``tierflow serve --workers N``;
    the capacity score of each node and the holds read when scraped. Off
    (404) with ``tierflow serve --no-metrics``."""
    state: ServiceState = request.app.state.service
    return Response(state.metrics.exposition(), media_type=CONTENT_TYPE)
