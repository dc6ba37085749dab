"""Screenshots of every page and of the simulation report, at 1280 px (a
laptop) and 390 px (a phone) wide (``make screenshots`` →
``docs/screenshots/{checkout,ops,report}-{1280,390}.png``).

A realistic scene on the sample network with a pinned clock, in headless
Chromium (Debian's ``chromium-headless-shell`` or ``chromium``, driven by
Playwright); the report is a
``tierflow simulate`` run's ``report.html`` (``--report``). See
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from tierflow.benchmarks.allocation_bench import generate_offered
from tierflow.benchmarks.chromium import CHROMIUM_ARGS, default_chromium
from tierflow.benchmarks.online_bench import fresh_store, stand_in_scores
from tierflow.data.network import load_network
from tierflow.data.orders import write_orders
from tierflow.data.sample_network import sample_network_dir
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.app import create_app
from tierflow.service.server import serve_in_thread

ET = dt.timezone(dt.timedelta(hours=-5))
CLOCK = dt.datetime(2026, 1, 5, 10, 0, tzinfo=ET)
#: The widths every page is shot at: a laptop and a phone.
WIDTHS = (1280, 390)


def _allocate(work: Path, network_dir: Path) -> Path:
    network = load_network(network_dir)
    orders = work / "orders.csv"
    write_orders(
        generate_offered(network, n_orders=3000, days=1, seed=3, start=CLOCK.date()),
        orders,
    )
    out = work / "allocation"
    tierflow = str(Path(sys.executable).with_name("tierflow"))
    subprocess.run(
        [
            tierflow,
            "allocate",
            "--network",
            str(network_dir),
            "--orders",
            str(orders),
            "--engine",
            "greedy",
            "--time-limit",
            "1",
            "--state",
            str(work / "state.db"),
            "--out",
            str(out),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out


def _events(router: OnlineRouter) -> None:
    net = router.network
    kinds = list(net.node_kind)
    warehouses = [net.node_ids[i] for i, k in enumerate(kinds) if k == 0]
    stores = [net.node_ids[i] for i, k in enumerate(kinds) if k == 1]
    cap = dict(zip(net.node_ids, net.capacity.tolist(), strict=True))
    ts = CLOCK.astimezone(dt.UTC).isoformat()
    events: list[dict[str, Any]] = [
        {
            "event_id": "shot-staff",
            "ts": ts,
            "node_id": warehouses[1],
            "type": "staffing",
            "value": 55,
        },
    ]
    for k, node in enumerate(warehouses[2:6] + stores[:6]):
        events.append(
            {
                "event_id": f"shot-backlog-{k}",
                "ts": ts,
                "node_id": node,
                "type": "backlog",
                "value": round(cap[node] * (0.3 + 0.12 * k), 1),
            }
        )
    router.apply_capacity_events(events)


def _shoot(page: Any, path: Path, width: int) -> None:
    """``page`` at ``width`` px wide, whole height; waits for the ops map's
    labels to be placed again for that width."""
    page.set_viewport_size({"width": width, "height": 900})
    page.wait_for_function(
        """() => {
        const map = document.getElementById('map');
        return !map || map.dataset.labelled === String(Math.round(map.getBoundingClientRect().width));
    }"""
    )
    page.screenshot(path=str(path), full_page=True)


def _checkout_scene(browser: Any, url: str, key: str) -> tuple[Any, Any]:
    """The checkout page of the top segment's sample customer, its Gold
    node closed from /ops meanwhile (a live update), the shopper's own pick,
    one option's Details open; both pages."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(30_000)
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready='1']")
    page.click("#get-options")  # the first sample customer: top segment
    page.wait_for_selector(".option-card")
    page.wait_for_selector("#live-status[data-state='live']")
    ships = page.locator(".option-card[data-tier='gold'] [data-field='details'] dd")
    node = (ships.nth(1).text_content() or "").split(" ")[0]
    ops = browser.new_page(viewport={"width": 1280, "height": 900})
    ops.set_default_timeout(30_000)
    ops.goto(url + "/ops")
    ops.wait_for_selector("body[data-ready='1']")
    ops.fill("#api-key", key)
    ops.select_option("#event-node", node)
    ops.select_option("#event-kind", "outage")
    ops.click("#inject")
    ops.wait_for_selector("#inject-result[data-status='200']")
    ops.wait_for_selector(f"#map [data-node-id='{node}'][data-outage='true']")
    ops.wait_for_selector("#alloc-plots svg")
    page.wait_for_selector("#updates li")
    page.click(".option-card[data-tier='silver'] .option-main")  # an override
    page.click(".option-card[data-tier='silver'] [data-field='details'] summary")
    return page, ops


def run(out: Path, work: Path, chromium: str, report: Path | None) -> list[Path]:
    """Build the scene; write the pages' (and the report's) screenshots into
    ``out``; their paths."""
    from playwright.sync_api import sync_playwright

    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    network_dir = sample_network_dir()
    network = load_network(network_dir)
    for old in work.glob("state.db*"):
        old.unlink()
    fresh_store(work / "state.db", network, stand_in_scores(network))
    allocation = _allocate(work, network_dir)
    key = secrets.token_urlsafe(24)
    written: list[Path] = []
    with OnlineRouter.open(network, work / "state.db") as router:
        _events(router)
        app = create_app(
            router, api_key=key, clock=lambda: CLOCK, allocation_dir=allocation
        )
        with serve_in_thread(app) as server, sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium, headless=True, args=CHROMIUM_ARGS
            )
            pages = dict(
                zip(
                    ("checkout", "ops"),
                    _checkout_scene(browser, server.url, key),
                    strict=True,
                )
            )
            if report is not None:
                doc = browser.new_page(viewport={"width": 1280, "height": 900})
                doc.goto(report.resolve().as_uri())
                doc.wait_for_load_state("load")
                pages["report"] = doc
            for name, page in pages.items():
                for width in WIDTHS:
                    path = out / f"{name}-{width}.png"
                    _shoot(page, path, width)
                    written.append(path)
            browser.close()
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--work", type=Path, default=Path("out/screenshots"))
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        help="a tierflow simulate report.html to shoot as well",
    )
    parser.add_argument("--chromium", default=default_chromium())
    args = parser.parse_args(argv)
    for path in run(args.out, args.work, args.chromium, args.report):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
