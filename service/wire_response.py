"""The checkout answers' JSON, written by pydantic-core's encoder.

Starlette's ``JSONResponse`` renders with the standard library
(``json.dumps(ensure_ascii=False, allow_nan=False, separators=(",", ":"))``),
which costs an options answer about as much as its whole HTTP handling.
pydantic-core (pydantic's own engine, already installed) writes the same
bytes for what ``to_dict()`` returns, in well under half the time: string
keys, strings escaped alike, and floats that are all rounded to their
``Digits`` (so never under 1e-4 in size, where the two encoders would write
exponents differently). A body the standard encoder refuses (NaN or an
infinity, which are not JSON) is rendered by it, so it is refused as before.
"""

from __future__ import annotations

from typing import Any

import pydantic_core
from fastapi.responses import JSONResponse

#: What pydantic-core writes for NaN and infinities (not JSON).
_NOT_JSON = (b"NaN", b"Infinity")


def wire_json(content: Any) -> bytes | None:
    """``content`` (plain JSON values) as compact JSON by pydantic-core; None
    when it holds a NaN or an infinity (not JSON: the caller's slower path
    decides what to do with them)."""
    body = pydantic_core.to_json(content)
    if any(token in body for token in _NOT_JSON):
        return None
    return body


class WireResponse(JSONResponse):
    """A ``JSONResponse`` of a checkout answer's ``to_dict()``, rendered by
    pydantic-core (the same bytes, sooner)."""

    def render(self, content: Any) -> bytes:
        body = wire_json(content)
        if body is None:  # refused as before
            return super().render(content)
        return body
