"""The HTTP routes, one :class:`fastapi.APIRouter` per concern (see
``docs/service.md``), included by :func:`include_routes` in the order of the
OpenAPI document."""

from __future__ import annotations

from fastapi import FastAPI

from tierflow.service.routes import capacity, checkout, health, page_data, pages, stream


def include_routes(app: FastAPI) -> None:
    """Every router, then the static files the pages load."""
    for module in (checkout, capacity, stream, page_data, health, pages):
        app.include_router(module.router)
    pages.mount_static(app)
