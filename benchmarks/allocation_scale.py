"""Scale of ``tierflow allocate``: a 100,000-order day end to end, and the
p95 solve time of 1,000-order micro-batches, with peak memory.

Protocol: ``docs/benchmarks.md``. Usage::

    python -m tierflow.benchmarks.allocation_scale --orders 100000 --repeat 3 --out DIR
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from tierflow.benchmarks.arguments import decimal, whole
from tierflow.data.wording import counted

_WRAPPER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
rc = subprocess.run(sys.argv[1:]).returncode
wall = time.perf_counter() - start
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": rc, "wall_s": wall, "peak_rss_mb": peak_kb / 1024}))
"""

CONFIGS: dict[str, list[str]] = {
    "cpsat + bid prices, 15-min batches": [
        "--engine",
        "cpsat",
        "--batch-minutes",
        "15",
    ],
    "cpsat + bid prices, 1000-order batches": [
        "--engine",
        "cpsat",
        "--batch-size",
        "1000",
    ],
    "nearest (baseline)": ["--engine", "nearest", "--no-bid-prices"],
}


def _measure(args: list[str], out: Path) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-c",
        _WRAPPER,
        *_tierflow("allocate", *args, "--out", str(out), "--json"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if len(lines) < 2:
        raise SystemExit(f"allocate failed:\n{proc.stdout}\n{proc.stderr}")
    summary, usage = json.loads(lines[-2]), json.loads(lines[-1])
    if usage["rc"] != 0:
        raise SystemExit(f"allocate exited {usage['rc']}:\n{proc.stderr}")
    return {
        **usage,
        **{
            k: summary[k]
            for k in (
                "n_orders",
                "n_allocated",
                "n_deferred",
                "total_cost",
                "batch_solve_p95_s",
                "n_batches",
                "runtime_s",
            )
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=whole, default=100_000)
    parser.add_argument("--seed", type=whole, default=7)
    parser.add_argument("--repeat", type=whole, default=3)
    parser.add_argument("--time-limit", type=decimal, default=2.0)
    parser.add_argument("--out", type=Path, default=Path("out/bench-allocation-scale"))
    ns = parser.parse_args(argv)
    ns.out.mkdir(parents=True, exist_ok=True)
    orders = _generate_orders(ns.out / "orders.csv", ns.orders, ns.seed)
    results = _run_configs(orders, ns.out, repeat=ns.repeat, time_limit=ns.time_limit)
    table = {name: _medians(runs) for name, runs in results.items()}
    text = _summary(table, n_orders=ns.orders, repeat=ns.repeat)
    (ns.out / "summary.md").write_text(text)
    (ns.out / "results.json").write_text(
        json.dumps({"runs": results, "median": table}, indent=2) + "\n"
    )
    print(text)


def _tierflow(*args: str) -> list[str]:
    """The command line of ``tierflow ARGS`` in this interpreter."""
    return [sys.executable, "-m", "tierflow.cli.main", *args]


def _generate_orders(path: Path, n_orders: int, seed: int) -> Path:
    """The benchmark day (``tierflow generate orders``)."""
    subprocess.run(
        _tierflow(
            "generate", "orders", "--orders", str(n_orders), "--days", "1",
            "--seed", str(seed), "--out", str(path),
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return path


def _run_configs(
    orders: Path, out: Path, *, repeat: int, time_limit: float
) -> dict[str, list[dict[str, Any]]]:
    """Every configuration ``repeat`` times, each run in a fresh folder."""
    results: dict[str, list[dict[str, Any]]] = {}
    for name, extra in CONFIGS.items():
        for r in range(repeat):
            run_dir = out / f"run-{len(results)}-{r}"
            # a fresh run, not a resume of an earlier invocation's state
            shutil.rmtree(run_dir, ignore_errors=True)
            args = ["--orders", str(orders), "--time-limit", str(time_limit),
                    "--seed", str(r), *extra]  # fmt: skip
            results.setdefault(name, []).append(_measure(args, run_dir))
            print(f"{name} #{r + 1}: {results[name][-1]}", file=sys.stderr)
    return results


def _medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    keys = ("wall_s", "peak_rss_mb", "n_batches", "batch_solve_p95_s", "total_cost")
    return {k: statistics.median(float(x[k]) for x in runs) for k in keys}


def _summary(table: dict[str, dict[str, float]], *, n_orders: int, repeat: int) -> str:
    """``summary.md``: medians per configuration, wall time x the baseline's."""
    base = table["nearest (baseline)"]["wall_s"]
    lines = [
        f"# Allocation at scale: {counted(n_orders, 'order')}, "
        f"{'1 run' if repeat == 1 else f'median of {repeat}'}",
        "",
        "| configuration | wall s | x nearest | peak RSS MB | batches | p95 batch "
        "solve s | total cost |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in table.items():
        lines.append(
            f"| {name} | {row['wall_s']:.1f} | {row['wall_s'] / base:.2f} "
            f"| {row['peak_rss_mb']:.0f} | {row['n_batches']:.0f} "
            f"| {row['batch_solve_p95_s']:.3f} | {row['total_cost']:,.0f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
