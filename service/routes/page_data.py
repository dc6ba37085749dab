"""What the two pages load: sample customers and carts (the demo's; off with
``serve --no-samples``), the latest allocation run, the US outline (operator
reads: the API key with ``serve --operator-reads key``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tierflow.service.capacity_view import map_outline
from tierflow.service.query_params import NO_QUERY_422, QUERY_AS_DECLARED
from tierflow.service.schemas import STORE_AWAY, AllocationOut, SamplesOut
from tierflow.service.state import OperatorRead, State

#: ``/v1/samples``: customer ids with their predicted spend, for the demo
#: checkout page; a router of its own, left out with ``serve --no-samples``.
samples_router = APIRouter(tags=["pages"])
router = APIRouter(tags=["pages"])


@samples_router.get(
    "/v1/samples",
    response_model=SamplesOut,
    responses={**STORE_AWAY, **NO_QUERY_422},
    summary="Sample customers, carts and destinations",
    dependencies=[QUERY_AS_DECLARED],
)
def get_samples(state: State) -> JSONResponse:
    """Customers spanning the CLTV segments (see :mod:`tierflow.service.samples`)."""
    return JSONResponse(state.pages.samples())


@router.get(
    "/v1/allocation",
    response_model=AllocationOut,
    responses={**STORE_AWAY, **NO_QUERY_422},
    summary="The latest allocation run, summarized",
    dependencies=[OperatorRead, QUERY_AS_DECLARED],
)
def get_allocation(state: State) -> JSONResponse:
    """From ``--allocation-dir`` or the store's latest run."""
    return JSONResponse(state.pages.allocation())


@router.get(
    "/v1/map",
    responses=NO_QUERY_422,
    summary="The US outline (dot grid)",
    dependencies=[OperatorRead, QUERY_AS_DECLARED],
)
def get_map(state: State) -> JSONResponse:
    """0.5° cells holding a US ZIP centroid: the ops page's map background,
    widened to every node of the served network."""
    return JSONResponse(map_outline(state.router.network))
