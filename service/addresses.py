"""A host as a URL or an address line writes it.

An IPv6 address is bracketed there (``http://[::1]:8000``): without the
brackets the port reads as part of the address (``http://::1:8000``, which
no browser or curl opens). One rule for the banner's links, uvicorn's
"running on" line and a bind's error.
"""

from __future__ import annotations


def url_host(host: str) -> str:
    """``host`` as a URL's host part: an IPv6 address (it holds a ``:``) in
    brackets, any other host as it is."""
    return f"[{host}]" if ":" in host else host
