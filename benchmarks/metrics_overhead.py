"""What ``/metrics`` costs ``POST /v1/options`` (part of ``make bench-service``).

Three ``tierflow serve`` processes on loopback, each on its own copy of the
same store: ``metrics`` (the default: metrics and access log on, ``/metrics``
scraped every ``scrape_s`` during its runs), ``no_metrics``
(``--no-metrics``) and ``bare`` (``--no-metrics --no-access-log``). Each
round runs one client's sequential ``POST /v1/options`` on the same carts
against each server in turn (the order rotates every round, so a drift of
the shared machine's load hits every variant alike) and keeps each run's
p50. The figures are the medians over the rounds and the median of the
per-round ratios. Protocol: ``docs/benchmarks.md``; ``docs/service.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Self

import httpx

from tierflow.benchmarks.fleet_bench import prepare_store, serve
from tierflow.benchmarks.fleet_clients import Cart, one_client_latency, run_fast
from tierflow.benchmarks.online_bench import checkouts
from tierflow.data.network import load_network
from tierflow.data.sample_network import sample_network_dir

#: Server flags of each variant.
VARIANTS: dict[str, tuple[str, ...]] = {
    "metrics": (),
    "no_metrics": ("--no-metrics",),
    "bare": ("--no-metrics", "--no-access-log"),
}


class Scraper:
    """Scrapes ``/metrics`` every ``every_s`` in a thread, as Prometheus would
    (its default is every 15 s); keeps each scrape's milliseconds."""

    def __init__(self, url: str, every_s: float) -> None:
        self.url = f"{url}/metrics"
        self.every_s = every_s
        self.ms: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                t = time.perf_counter()
                ok = client.get(self.url).status_code == 200
                self.ms.append((time.perf_counter() - t) * 1e3)
                self.failures += not ok
                self._stop.wait(self.every_s)


def measure(
    out: Path,
    *,
    network_dir: Path | None = None,
    rounds: int = 9,
    requests: int = 400,
    warm: int = 50,
    scrape_s: float = 1.0,
    seed: int = 1,
) -> dict[str, Any]:
    """Every round's p50 per variant, their medians and the overhead."""
    out.mkdir(parents=True, exist_ok=True)
    folder = network_dir or sample_network_dir()
    network = load_network(folder)
    pool = [(c, cart, d) for c, cart, d, _ in checkouts(network, 20_000, seed)]
    p50: dict[str, list[float]] = {v: [] for v in VARIANTS}
    scrapes: list[float] = []
    failures = 0
    with ExitStack() as stack:
        urls = {}
        for name, flags in VARIANTS.items():
            state = out / f"overhead-{name}.db"
            for old in out.glob(f"overhead-{name}.db*"):
                old.unlink()
            prepare_store(str(state), network)
            log = out / f"overhead-{name}.log"
            urls[name] = stack.enter_context(
                serve(folder, str(state), log, extra=flags)
            )
        names = list(VARIANTS)
        for r in range(rounds):
            carts = _carts(pool, r, requests + warm)
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                p50[name].append(_run(urls[name], carts, warm, name, scrape_s, scrapes))
        failures = _check_counts(urls["metrics"], rounds * (requests + warm))
    return _figures(p50, scrapes, failures, rounds, requests, scrape_s)


def _carts(pool: list[Cart], r: int, n: int) -> list[Cart]:
    start = (r * n) % max(1, len(pool) - n)
    return pool[start : start + n]


def _run(
    url: str, carts: list[Cart], warm: int, name: str, scrape_s: float,
    scrapes: list[float],
) -> float:  # fmt: skip
    """One client's run against one server; its p50 (ms)."""
    port = int(url.rsplit(":", 1)[1])
    if name != "metrics":
        return statistics.median(run_fast(one_client_latency(port, carts, warm)))
    with Scraper(url, scrape_s) as scraper:
        ms = run_fast(one_client_latency(port, carts, warm))
    scrapes.extend(scraper.ms)
    if scraper.failures:
        raise RuntimeError(f"{scraper.failures} scrapes of {url}/metrics failed")
    return statistics.median(ms)


def _check_counts(url: str, sent: int) -> int:
    """The metrics server counted every ``POST /v1/options`` it answered
    (returns how many it missed or added: 0 expected)."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    key = 'tierflow_http_requests_total{method="POST",route="/v1/options",status="200"}'
    counted = next(
        (float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(key)),
        0.0,
    )  # fmt: skip
    return abs(int(counted) - sent)


def _figures(
    p50: dict[str, list[float]], scrapes: list[float], miscounted: int,
    rounds: int, requests: int, scrape_s: float,
) -> dict[str, Any]:  # fmt: skip
    med = {name: statistics.median(v) for name, v in p50.items()}
    paired = [m / n for m, n in zip(p50["metrics"], p50["no_metrics"], strict=True)]
    access = [n / b for n, b in zip(p50["no_metrics"], p50["bare"], strict=True)]
    return {
        "rounds": rounds,
        "requests_per_run": requests,
        "scrape_every_s": scrape_s,
        "p50_ms_per_round": p50,
        "p50_ms_median": med,
        "overhead_metrics": med["metrics"] / med["no_metrics"] - 1.0,
        "overhead_metrics_paired_median": statistics.median(paired) - 1.0,
        "overhead_access_log": med["no_metrics"] / med["bare"] - 1.0,
        "overhead_access_log_paired_median": statistics.median(access) - 1.0,
        "scrapes": len(scrapes),
        "scrape_p50_ms": statistics.median(scrapes) if scrapes else None,
        "options_miscounted": miscounted,
    }


def summary(r: dict[str, Any]) -> str:
    """Markdown lines for ``summary.md``."""
    med = r["p50_ms_median"]
    return "\n".join([
        f"`POST /v1/options`, one client, {r['requests_per_run']} requests per run, "
        f"{r['rounds']} rounds (order rotated); median of the runs' p50:",
        "",
        "| server | p50 ms (median of rounds) | rounds' p50 min–max |",
        "|---|---:|---:|",
        *(f"| {name} | {med[name]:.3f} | {min(v):.3f}–{max(v):.3f} |"
          for name, v in r["p50_ms_per_round"].items()),
        "",
        f"Metrics overhead on p50: {100 * r['overhead_metrics']:+.1f} % (medians), "
        f"{100 * r['overhead_metrics_paired_median']:+.1f} % (median of per-round "
        f"ratios), `/metrics` scraped every {r['scrape_every_s']:g} s "
        f"({r['scrapes']} scrapes, p50 {r['scrape_p50_ms'] or 0:.1f} ms); access log "
        f"{100 * r['overhead_access_log']:+.1f} % / "
        f"{100 * r['overhead_access_log_paired_median']:+.1f} %. Options counted on "
        f"/metrics vs sent: off by {r['options_miscounted']}.",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/bench-metrics"))
    parser.add_argument("--network", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--scrape", type=float, default=1.0, help="seconds")
    args = parser.parse_args(argv)
    result = measure(
        args.out, network_dir=args.network, rounds=args.rounds,
        requests=args.requests, scrape_s=args.scrape,
    )  # fmt: skip
    (args.out / "metrics_overhead.json").write_text(json.dumps(result, indent=2))
    print(summary(result))


if __name__ == "__main__":
    main()
