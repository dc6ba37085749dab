"""The HTTP routes, one :class:`fastapi.APIRouter` per concern (see
``docs/service.md``), included by :func:`include_routes` in the order of the
OpenAPI document."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute, Mount, Route

from tierflow.service.routes import (
    capacity,
    checkout,
    docs,
    health,
    metrics,
    page_data,
    pages,
    stock,
    stream,
)


def include_routes(
    app: FastAPI, *, with_metrics: bool = True, with_samples: bool = True
) -> list[BaseRoute]:
    """Every router (``/metrics`` unless ``with_metrics`` is off,
    ``/v1/samples`` unless ``with_samples`` is), then the
    static files the pages and ``/docs`` load. Returns every route served,
    one by one: FastAPI keeps an included router's routes behind one entry
    of the app's, which names no path (the request metrics match a request
    answered before routing against these)."""
    routers: list[APIRouter] = [
        checkout.router,
        capacity.router,
        stock.router,
        stream.router,
    ]
    if with_samples:
        routers.append(page_data.samples_router)
    routers += [page_data.router, health.router]
    if with_metrics:
        routers.append(metrics.router)
    routers += [pages.router, docs.router]
    for router in routers:
        app.include_router(router)
    pages.mount_static(app)
    docs.mount_assets(app)
    own = [r for r in app.router.routes if isinstance(r, Route | Mount)]
    return [*own, *(route for router in routers for route in router.routes)]
