"""The security headers on every answer (``docs/service.md``, "Security").

Every answer is not to be sniffed as another type, framed by another site or
named in a ``Referer``. The checkout and operations pages may run only their
own scripts and styles and call only this server; ``/docs`` sets its own
policy (its one inline script by hash, :mod:`tierflow.service.routes.docs`);
anything else (JSON, scripts, styles) is no page and may load nothing.
An answer that is no file and sets no caching of its own (the API's JSON,
``/metrics``, ``/docs``) is stored by no cache: it may hold a customer's
figures or, with ``--operator-reads key``, data read with the key that a
shared cache would hand to a caller without it.
"""

from __future__ import annotations

CSP = "content-security-policy"
#: The checkout and operations pages: their own files, their own calls.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: Not a page (JSON, a script, a style, an event stream).
NOT_A_PAGE_CSP = "default-src 'none'; frame-ancestors 'none'"


def docs_csp(inline_script_sha256: str) -> str:
    """``/docs``'s policy: Swagger UI's files, its one inline script (by its
    base64 SHA-256) and the inline styles it sets as it draws."""
    return (
        f"default-src 'self'; script-src 'self' 'sha256-{inline_script_sha256}'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


_EVERY: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
#: An answer that says nothing of its caching and is no file (a file has its
#: ``ETag``): no cache keeps it (``X-API-Key`` is no ``Authorization``, which
#: a shared cache would not reuse for another caller).
_NO_STORE = (b"cache-control", b"no-store")
_PAGE = (CSP.encode(), PAGE_CSP.encode())
_NOT_A_PAGE = (CSP.encode(), NOT_A_PAGE_CSP.encode())


def with_security_headers(
    headers: list[tuple[bytes, bytes]],
) -> list[tuple[bytes, bytes]]:
    """``headers`` (an ASGI answer's) with the security headers it lacks:
    the page policy for HTML, the no-page policy otherwise, none where the
    route set its own; ``Cache-Control: no-store`` unless it says its own
    caching or is a file."""
    names = {name.lower() for name, _ in headers}
    out = headers + [h for h in _EVERY if h[0] not in names]
    if b"cache-control" not in names and b"etag" not in names:
        out.append(_NO_STORE)
    if CSP.encode() not in names:
        html = any(
            name.lower() == b"content-type" and value.startswith(b"text/html")
            for name, value in headers
        )
        out.append(_PAGE if html else _NOT_A_PAGE)
    return out
