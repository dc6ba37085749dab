"""The headless Chromium that the screenshots and the browser tests drive
(Playwright with ``executable_path``: ``playwright install`` cannot
download here), and the flags it runs with. A module of its own, light to
import: the test suite's ``browser`` plugin loads it in every pytest
process."""

from __future__ import annotations

import os
from pathlib import Path

#: The Chromiums tried, in order, when ``$TIERFLOW_CHROMIUM`` names none:
#: Debian's headless shell (``chromium-headless-shell``: the same Blink
#: without the browser's UI; the 93 browser tests of ``test_browser.py``
#: took 65 CPU-s and 46 s on two cores with it, 150 CPU-s and 81 s with
#: the full browser, 2026-12-07), then the full ``chromium``.
CHROMIUMS = ("/usr/bin/chromium-headless-shell", "/usr/bin/chromium")

#: Flags this machine's closed network needs (no background connections).
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
]


def default_chromium() -> str:
    """``$TIERFLOW_CHROMIUM``, else the first of :data:`CHROMIUMS`
    installed (none: the first, which the caller names as missing)."""
    chosen = os.environ.get("TIERFLOW_CHROMIUM")
    if chosen:
        return chosen
    return next((c for c in CHROMIUMS if Path(c).exists()), CHROMIUMS[0])
