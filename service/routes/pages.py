"""The checkout (``/``) and operations (``/ops``) pages and their static files."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

STATIC = resources.files("tierflow.service") / "static"

router = APIRouter(include_in_schema=False)


def _page(name: str) -> HTMLResponse:
    return HTMLResponse(
        (STATIC / name).read_text(encoding="utf-8"),
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/")
def checkout_page() -> HTMLResponse:
    """The checkout page."""
    return _page("checkout.html")


@router.get("/ops")
def ops_page() -> HTMLResponse:
    """The operations page."""
    return _page("ops.html")


@router.get("/favicon.ico")
def favicon() -> Response:
    """No icon."""
    return Response(status_code=204)


def mount_static(app: FastAPI) -> None:
    """``/static``: the pages' scripts and styles."""
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
