"""``/docs`` offline: Swagger UI from files installed with tierflow.

FastAPI's own ``/docs`` loads Swagger UI from a CDN, so it is blank on a
network without one. These are fastapi-offline's copies of Swagger UI's
script, stylesheet and icon (served at ``/docs/static``), rendered by
FastAPI's ``get_swagger_ui_html`` (FastAPI's documented self-hosting); the
online spec validator is off. Nothing on the page leaves the server.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from tierflow.service.security_headers import CSP, docs_csp

#: The installed Swagger UI files (``swagger-ui-bundle.js``, ``swagger-ui.css``,
#: ``favicon.png``).
ASSETS = resources.files("fastapi_offline") / "static"
DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/static"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)

router = APIRouter(include_in_schema=False)


@router.get(DOCS_PATH)
def docs_page(request: Request) -> HTMLResponse:
    """Swagger UI over ``/openapi.json``, every file from this server."""
    root = request.scope.get("root_path", "")
    page = get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} API",
        swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
        swagger_ui_parameters={"validatorUrl": None},
    )
    # the page's policy lets its one inline script (Swagger UI's start) run
    # and no other (service/security_headers.py)
    script = _INLINE_SCRIPT.search(bytes(page.body).decode())
    digest = hashlib.sha256(script.group(1).encode() if script else b"").digest()
    page.headers[CSP] = docs_csp(base64.b64encode(digest).decode())
    return page


def mount_assets(app: FastAPI) -> None:
    """``/docs/static``: Swagger UI's files."""
    app.mount(ASSETS_PATH, StaticFiles(directory=str(ASSETS)), name="docs-static")
