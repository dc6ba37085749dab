"""The CLTV scale run: train and score a 1 M-customer synthetic log in child
processes, each measured for wall time and its own peak RSS, next to a
baseline of the same run (reading the log and scoring BG/NBD + Gamma-Gamma).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

#: As-of date and horizon of the scale run (2.5 years of history).
SCALE_AS_OF, SCALE_HORIZON = "2024-06-30", 365


@dataclass(frozen=True, slots=True)
class ChildRun:
    seconds: float
    output: str


def run_child(args: list[str], threads: int) -> ChildRun:
    """Run a child process with ``threads`` OpenMP threads; its wall time."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    proc = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise click.ClickException(f"{' '.join(args[:4])} failed:\n{proc.stderr}")
    return ChildRun(seconds, proc.stdout + proc.stderr)


_PEAK = """
import resource

def _peak_mb():
    # VmHWM is this process image's own peak: ru_maxrss would also count the
    # parent's memory at fork (Linux keeps it across exec)
    try:
        with open("/proc/self/status") as status:
            for row in status:
                if row.startswith("VmHWM:"):
                    return int(row.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

_BASELINE = (
    _PEAK
    + """
import sys, time
from tierflow.cltv.features import customer_history, fit_btyd, load_customer_data
from tierflow.data.transactions import day_number
t = time.perf_counter()
data, _ = load_customer_data(sys.argv[1])
h = customer_history(data.transactions, day_number(sys.argv[2]))
fit = fit_btyd(h)
spend = fit.expected_spend(h, int(sys.argv[3]))
print(f"baseline {h.n_customers} customers {time.perf_counter() - t:.1f} s "
      f"peak {_peak_mb():.0f} MB")
"""
)

_SELF_RSS = (
    _PEAK
    + """
import sys
sys.argv = ["tierflow", *sys.argv[1:]]
try:
    from tierflow.cli.main import main
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(f"peak_rss_mb {_peak_mb():.0f}", file=sys.stderr)
raise SystemExit(code)
"""
)


def _self_rss(output: str) -> float:
    for line in output.splitlines():
        if line.startswith("peak_rss_mb "):
            return float(line.split()[1])
    return float("nan")


def synthetic_log(
    n_customers: int, seed: int, out: Path
) -> tuple[Path, int, float | None]:
    """The seeded synthetic log as Parquet (reused when present): path, rows
    and the seconds it took to generate (``None`` when reused)."""
    from tierflow.data.synthetic_transactions import (
        generate_transactions,
        write_transactions,
    )

    out.mkdir(parents=True, exist_ok=True)
    path = out / f"synthetic-{n_customers}-seed{seed}.parquet"
    if path.is_file():
        import pyarrow.parquet as pq

        return path, pq.ParquetFile(path).metadata.num_rows, None
    start = time.perf_counter()
    frame = generate_transactions(n_customers, seed=seed)
    write_transactions(frame, path)
    return path, len(frame), time.perf_counter() - start


def _cli(log_path: Path, *args: str) -> list[str]:
    """A ``tierflow cltv`` command run under the peak-RSS wrapper."""
    return [
        sys.executable,
        "-c",
        _SELF_RSS,
        "cltv",
        args[0],
        "--transactions",
        str(log_path),
        "--as-of",
        SCALE_AS_OF,
        *args[1:],
    ]


def run_scale(
    n_customers: int, seed: int, repeat: int, threads: int, out: Path
) -> dict[str, Any]:
    """Train once and score ``repeat`` times; times, peak RSS and targets."""
    import shutil

    log_path, n_rows, gen_seconds = synthetic_log(n_customers, seed, out)
    models = out / "models"
    shutil.rmtree(models, ignore_errors=True)  # train afresh, not "already had"
    baseline = run_child(
        [
            sys.executable,
            "-c",
            _BASELINE,
            str(log_path),
            SCALE_AS_OF,
            str(SCALE_HORIZON),
        ],
        threads,
    )
    train = run_child(
        _cli(
            log_path,
            "train",
            "--horizon-days",
            str(SCALE_HORIZON),
            "--model-dir",
            str(models),
            "--no-backtest",
        ),
        threads,
    )
    score_args = _cli(
        log_path, "score", "--model-dir", str(models), "--out", str(out / "scores.csv")
    )
    scores = [run_child(score_args, threads) for _ in range(repeat)]
    return _scale_report(
        n_customers, n_rows, threads, gen_seconds, baseline, train, scores
    )


def _scale_report(
    n_customers: int,
    n_rows: int,
    threads: int,
    gen_seconds: float | None,
    baseline: ChildRun,
    train: ChildRun,
    scores: list[ChildRun],
) -> dict[str, Any]:
    score_seconds = statistics.median(s.seconds for s in scores)
    score_rss = max(_self_rss(s.output) for s in scores)
    train_rss = _self_rss(train.output)
    return {
        "n_customers": n_customers,
        "n_rows": n_rows,
        "threads": threads,
        "generate_seconds": gen_seconds,
        "baseline": baseline.output.strip(),
        "baseline_seconds": baseline.seconds,
        "train_seconds": train.seconds,
        "train_peak_rss_mb": train_rss,
        "score_seconds_median": score_seconds,
        "score_seconds_all": [s.seconds for s in scores],
        "score_peak_rss_mb": score_rss,
        "score_output": scores[-1].output.strip().splitlines()[0],
        # same run: the scoring wall time over reading + BG/NBD alone
        "score_over_baseline": score_seconds / baseline.seconds,
        "targets": {
            "score <= 60 s": score_seconds <= 60.0,
            "score peak RSS <= 4 GB": score_rss <= 4096.0,
            "train <= 300 s": train.seconds <= 300.0,
            "train peak RSS <= 4 GB": train_rss <= 4096.0,
        },
    }
