"""Screenshots of the checkout and operations pages for the README
(``make screenshots`` → ``docs/checkout.png``, ``docs/ops.png``).

A realistic scene on the sample network with a pinned clock, in headless
Chromium (Debian's ``chromium``, driven by Playwright); see
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from tierflow.benchmarks.online_bench import fresh_store, stand_in_scores
from tierflow.data.network import load_network
from tierflow.data.order_generator import generate_orders
from tierflow.data.orders import write_orders
from tierflow.data.sample_network import sample_network_dir
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.app import create_app
from tierflow.service.server import serve_in_thread

ET = dt.timezone(dt.timedelta(hours=-5))
CLOCK = dt.datetime(2026, 1, 5, 10, 0, tzinfo=ET)
#: Flags this machine's closed network needs (no background connections).
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
]


def _allocate(work: Path, network_dir: Path) -> Path:
    network = load_network(network_dir)
    orders = work / "orders.csv"
    write_orders(
        generate_orders(network, n_orders=3000, days=1, seed=3, start=CLOCK.date()),
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


def run(out: Path, work: Path, chromium: str) -> None:
    """Build the scene and write ``checkout.png`` and ``ops.png`` into ``out``."""
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
    with OnlineRouter.open(network, work / "state.db") as router:
        _events(router)
        app = create_app(
            router, api_key=key, clock=lambda: CLOCK, allocation_dir=allocation
        )
        with serve_in_thread(app) as server, sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium, headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1280, "height": 820})
            page.set_default_timeout(30_000)
            page.goto(server.url + "/")
            page.wait_for_selector("body[data-ready='1']")
            page.click("#get-options")  # the first sample customer: top segment
            page.wait_for_selector(".option-card")
            page.wait_for_selector("#live-status[data-state='live']")
            gold = page.locator(".option-card[data-tier='gold']")
            node = (
                (gold.locator("[data-field='nodes']").text_content() or "")
                .split(" from ")[1]
                .split(" ")[0]
            )
            ops = browser.new_page(viewport={"width": 1280, "height": 1500})
            ops.set_default_timeout(30_000)
            ops.goto(server.url + "/ops")
            ops.wait_for_selector("body[data-ready='1']")
            ops.fill("#api-key", key)
            ops.select_option("#event-node", node)
            ops.select_option("#event-kind", "outage")
            ops.click("#inject")
            ops.wait_for_selector("#inject-result[data-status='200']")
            ops.wait_for_selector(f"#map [data-node-id='{node}'][data-outage='true']")
            page.wait_for_selector("#updates li")
            page.click(".option-card[data-tier='silver']")  # an override
            page.screenshot(path=str(out / "checkout.png"), full_page=True)
            ops.wait_for_selector("#alloc-plots svg")
            ops.screenshot(path=str(out / "ops.png"), full_page=True)
            browser.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--work", type=Path, default=Path("out/screenshots"))
    parser.add_argument(
        "--chromium", default=os.environ.get("TIERFLOW_CHROMIUM", "/usr/bin/chromium")
    )
    args = parser.parse_args(argv)
    run(args.out, args.work, args.chromium)
    print(f"wrote {args.out / 'checkout.png'} and {args.out / 'ops.png'}")


if __name__ == "__main__":
    main()
