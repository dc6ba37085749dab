"""The HTTP routes, one :class:`fastapi.APIRouter` per concern (see
``docs/service.md``), included by :func:`include_routes` in the order of the
OpenAPI document."""

from __future__ import annotations

from fastapi import FastAPI

from tierflow.service.routes import (
    capacity,
    checkout,
    docs,
    health,
    metrics,
    page_data,
    pages,
    stream,
)


def include_routes(app: FastAPI, *, with_metrics: bool = True) -> None:
    """Every router (``/metrics`` unless ``with_metrics`` is off), then the
    static files the pages and ``/docs`` load."""
    for module in (checkout, capacity, stream, page_data, health):
        app.include_router(module.router)
    if with_metrics:
        app.include_router(metrics.router)
    app.include_router(pages.router)
    app.include_router(docs.router)
    pages.mount_static(app)
    docs.mount_assets(app)
