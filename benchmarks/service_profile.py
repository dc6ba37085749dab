"""Where the time of ``POST /v1/options`` goes: the app driven in process
through ASGI (no sockets), under cProfile, its time split into the parts
``docs/service.md`` reports (the decision, the store, validation, encoding,
the framework).

``python -m tierflow.benchmarks.service_profile [--state URL] [--requests N]
[--no-demand]``: by default the router carries the rest-of-day forecast
refreshed from today's orders, as ``tierflow serve`` runs it (its refresh
runs on the capacity follower's thread, never per request).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import json
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

from tierflow.benchmarks.arguments import whole
from tierflow.benchmarks.online_bench import checkouts, scarce_store, stand_in_scores
from tierflow.capacity.demand_forecast import DemandForecast
from tierflow.data.network import load_network
from tierflow.data.sample_network import sample_network_dir
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.lean import replay

#: Parts of a request, by the functions whose cumulative time they are
#: (file fragment, function name); the first match wins, in this order.
PARTS: tuple[tuple[str, tuple[str, str]], ...] = (
    ("store: quote write", ("checkout/quotes.py", "remember")),
    ("store: stock and CLTV read", ("checkout/live_context.py", "_facts")),
    ("CLTV lookup (threshold, kept scores)", ("checkout/customer_value.py", "lookup")),
    ("store: allowance read", ("checkout/upgrades.py", "with_allowance")),
    ("store: capacity refresh", ("checkout/live_context.py", "_capacity_logged")),
    ("bid prices", ("orchestration/bid_prices.py", "current")),
    ("decision (plan)", ("checkout/planner.py", "plan")),
    ("options (build)", ("checkout/options.py", "build")),
    ("request check (router)", ("checkout/request.py", "parse")),
    ("answer to JSON: to_dict", ("checkout/wire.py", "to_wire")),
    ("answer to JSON: dumps", ("service/wire_response.py", "render")),
    ("body read, JSON parse, validation (lean path)", ("service/lean.py", "json_body")),
    (
        "pydantic body validation",
        ("fastapi/dependencies/utils.py", "request_body_to_args"),
    ),
    ("body read + JSON parse", ("fastapi/routing.py", "_extract_endpoint_context")),
)


def drive(
    app: Any,
    bodies: list[bytes],
    warm: int = 0,
    profiler: cProfile.Profile | None = None,
) -> list[float]:
    """Send each body to ``POST /v1/options`` through the ASGI app, in one
    lifespan (ending it shuts a PostgreSQL store's offload threads); seconds
    each after the first ``warm``, under ``profiler`` when given."""

    async def one(body: bytes) -> int:
        status = 0

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": "/v1/options", "raw_path": b"/v1/options", "query_string": b"",
            "root_path": "", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1),
            "headers": [(b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())],
        }  # fmt: skip
        await app(scope, replay(body), send)
        return status

    async def run() -> list[float]:
        out = []
        async with app.router.lifespan_context(app):
            for body in bodies[:warm]:
                assert await one(body) == 200
            if profiler is not None:
                profiler.enable()
            for body in bodies[warm:]:
                t = time.perf_counter()
                assert await one(body) == 200
                out.append(time.perf_counter() - t)
            if profiler is not None:
                profiler.disable()
        return out

    return asyncio.run(run())


def run_sync_handlers_inline() -> None:
    """Sync handlers on the event loop instead of a worker thread, so that
    cProfile (which sees one thread) sees them too (for a profile of an app
    whose handlers are ``def``)."""
    import fastapi.routing

    async def inline(func: Any, *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    setattr(fastapi.routing, "run_in_threadpool", inline)  # noqa: B010


def timed(state: str | None, n: int, *, demand: bool = True) -> dict[str, float]:
    """Milliseconds per request without a profiler: through the app (ASGI,
    in process) and the router's call alone, on the same requests."""
    return profile(state, n, profiled=False, demand=demand)


def profile(
    state: str | None, n: int, *, profiled: bool = True, demand: bool = True
) -> dict[str, Any]:
    """Per-request milliseconds of each part (cProfile's cumulative times)."""
    from tierflow.service.app import create_app

    net = load_network(sample_network_dir())
    with tempfile.TemporaryDirectory() as tmp:
        where = state or str(Path(tmp) / "state.db")
        if state is None:
            scarce_store(Path(where), net, stand_in_scores(net))
        carts = checkouts(net, n + n // 4, 1)
        bodies = [
            json.dumps({
                "customer_id": c, "dest": d,
                "items": [{"sku": s, "quantity": q} for s, q in cart],
            }).encode()
            for c, cart, d, _ in carts
        ]  # fmt: skip
        forecast = DemandForecast.intraday() if demand else None
        with OnlineRouter.open(net, where, demand=forecast) as router:
            app = create_app(router, api_key="profile-key-0123456789")
            if profiled:
                # cProfile sees one thread: the calls a PostgreSQL store's
                # app runs in its offload threads run on the loop instead
                service = app.state.service
                app.state.service = dataclasses.replace(service, offload=None)
            prof = cProfile.Profile()
            wall = drive(app, bodies, n // 4, prof if profiled else None)
            if not profiled:
                return {
                    "asgi_ms": 1e3 * _median(wall),
                    "router_ms": _router_ms(router, carts[n // 4 :]),
                }
    return _parts(pstats.Stats(prof), len(wall), sum(wall))


def refresh_ms(n_orders: int, repeats: int = 20) -> dict[str, float]:
    """Milliseconds of a rest-of-day forecast refresh (the store's read of
    today's orders and the estimate) after ``n_orders`` checkouts confirmed
    through the router (a fresh SQLite store, the day's instants): the
    first (every order read) and the median of the next (only the last
    confirmations read again)."""
    net = load_network(sample_network_dir())
    with tempfile.TemporaryDirectory() as tmp:
        router = OnlineRouter.open(
            net, str(Path(tmp) / "state.db"), demand=DemandForecast.intraday()
        )
        with router:
            confirmed = 0
            for c, cart, d, when in checkouts(net, n_orders, 2):
                answer = router.generate_fulfillment_options(c, cart, d, now=when)
                if not answer.options:
                    continue
                rid, best = answer.request_id, answer.options[0].option_id
                if router.select(rid, best, now=when).status == "held":
                    confirmed += router.confirm(rid, now=when).status == "confirmed"
            assert router.store is not None and router.demand is not None
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                router.demand.refresh(router.store, when)
                times.append(time.perf_counter() - t)
            outlook = router.demand.outlook
            assert outlook is not None
            return {
                "confirmed": confirmed,
                "observed_today": outlook.observed_orders,
                "first_refresh_ms": 1e3 * times[0],
                "refresh_ms": 1e3 * _median(times[1:]),
            }


def _median(values: list[float]) -> float:
    return float(sorted(values)[len(values) // 2])


def _router_ms(router: OnlineRouter, carts: list[Any]) -> float:
    """Median milliseconds of the router's own call on the same carts."""
    times = []
    for c, cart, d, _ in carts:
        t = time.perf_counter()
        router.generate_fulfillment_options(c, cart, d)
        times.append(time.perf_counter() - t)
    return 1e3 * _median(times)


def _parts(stats: pstats.Stats, n: int, wall: float) -> dict[str, Any]:
    table: dict[tuple[str, int, str], Any] = stats.stats  # type: ignore[attr-defined]
    out: dict[str, float] = {}
    for name, (fragment, func) in PARTS:
        cum = sum(
            v[3]
            for (file, _, fn), v in table.items()
            if fragment in file and fn == func
        )
        out[name] = 1e3 * cum / n
    out["the rest (framework, uvicorn-free)"] = 1e3 * wall / n - sum(out.values())
    return {"requests": n, "wall_ms_per_request": 1e3 * wall / n, "parts_ms": out}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", default=None, help="store (default: a fresh SQLite)")
    parser.add_argument("--requests", type=whole, default=2000)
    parser.add_argument(
        "--inline-sync", action="store_true", help="profile def handlers too"
    )
    parser.add_argument(
        "--no-demand",
        dest="demand",
        action="store_false",
        help="without the rest-of-day forecast (a router as before issue 13 item 4)",
    )
    parser.add_argument(
        "--refresh-orders",
        type=whole,
        default=0,
        help="also time one forecast refresh after this many confirmed checkouts",
    )
    args = parser.parse_args(argv)
    if args.refresh_orders:
        r = refresh_ms(args.refresh_orders)
        print(f"forecast refresh: first {r['first_refresh_ms']:.2f} ms, then "
              f"{r['refresh_ms']:.2f} ms (median) with {r['confirmed']} checkouts "
              f"confirmed ({r['observed_today']} of the latest day)")  # fmt: skip
    if args.inline_sync:
        run_sync_handlers_inline()
    plain = timed(args.state, args.requests, demand=args.demand)
    print(f"median ms per request: through the app {plain['asgi_ms']:.3f}, "
          f"the router alone {plain['router_ms']:.3f}")  # fmt: skip
    result = profile(args.state, args.requests, demand=args.demand)
    print(f"{result['requests']} requests, {result['wall_ms_per_request']:.3f} ms each "
          "(in process, under cProfile)")  # fmt: skip
    for name, ms in result["parts_ms"].items():
        print(f"  {name:<28} {ms:7.3f} ms")


if __name__ == "__main__":
    main()
