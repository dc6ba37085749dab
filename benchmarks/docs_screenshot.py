"""``docs/docs-offline.png``: ``/docs`` on the sample network, rendered in
headless Chromium with every request off loopback refused (``make
docs-screenshot``); fails when the page asked for anything elsewhere."""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from tierflow.benchmarks.chromium import CHROMIUM_ARGS, default_chromium
from tierflow.data.errors import TierflowError
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.app import create_app
from tierflow.service.server import serve_in_thread

#: Hosts the page may load from.
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def run(out: Path, work: Path, chromium: str) -> list[str]:
    """Write the screenshot to ``out``; the requests refused (none expected)."""
    from playwright.sync_api import Route, sync_playwright

    work.mkdir(parents=True, exist_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    blocked: list[str] = []

    def gate(route: Route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname in LOOPBACK:
            route.continue_()
        else:
            blocked.append(url)
            route.abort("internetdisconnected")

    for old in work.glob("docs-state.db*"):
        old.unlink()
    with (
        OnlineRouter.open(None, work / "docs-state.db") as router,
        serve_in_thread(create_app(router, api_key=secrets.token_urlsafe(24))) as srv,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        page.route("**/*", gate)
        page.goto(f"{srv.url}/docs")
        page.wait_for_selector(".opblock")
        page.screenshot(path=str(out), full_page=True)
        browser.close()
    return blocked


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/docs-offline.png"))
    parser.add_argument("--work", type=Path, default=Path("out/screenshots"))
    parser.add_argument("--chromium", default=default_chromium())
    args = parser.parse_args(argv)
    blocked = run(args.out, args.work, args.chromium)
    if blocked:
        raise TierflowError(f"/docs asked for {len(blocked)} outside files: {blocked}")
    print(f"wrote {args.out} (no request left loopback)")


if __name__ == "__main__":
    main()
