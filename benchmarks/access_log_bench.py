"""What one access-log line costs the server, in text and JSON.

The service writes one ``tierflow.access`` line per request
(``service/observe.py``) through the handler ``configure_logging`` installs
(``data/logging_setup.py``). This times that call in one process, writing
to a file, against a baseline measured in the same run: the same message
through a bare ``logging.Formatter("%(message)s")`` handler, the floor of
Python's logging. Repetitions alternate the variants; medians are reported.

    .venv/bin/python -m tierflow.benchmarks.access_log_bench --out out/bench-access-log
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from tierflow.benchmarks.arguments import whole
from tierflow.data.logging_setup import REQUEST_ID, StderrHandler, configure_logging
from tierflow.service.observe import ACCESS_LOGGER, write_access_line

#: An options call's scope, as uvicorn gives it.
SCOPE: dict[str, Any] = {
    "client": ("127.0.0.1", 51234),
    "raw_path": b"/v1/checkouts/AbCdEfGhIjKlMnOpQrStUv/select",
    "path": "/v1/checkouts/AbCdEfGhIjKlMnOpQrStUv/select",
    "query_string": b"",
    "method": "POST",
    "http_version": "1.1",
}
VARIANTS = ("baseline", "text", "json")


def _install(variant: str) -> None:
    """The handler of ``variant`` on the root logger (stderr: a file here)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(handler)
    if variant == "baseline":
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
        logging.getLogger("tierflow").setLevel(logging.INFO)
    else:
        configure_logging("info", variant)


def time_lines(variant: str, lines: int, warm: int) -> float:
    """Microseconds per access line written with ``variant``'s handler."""
    _install(variant)
    for _ in range(warm):
        write_access_line(SCOPE, 200, 0.0021)
    start = time.perf_counter()
    for _ in range(lines):
        write_access_line(SCOPE, 200, 0.0021)
    return (time.perf_counter() - start) / lines * 1e6


def measure(out: Path, *, lines: int, warm: int, repeats: int) -> dict[str, Any]:
    """Median µs per line of each variant over ``repeats`` alternating rounds."""
    out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[float]] = {v: [] for v in VARIANTS}
    root, ours = logging.getLogger(), logging.getLogger("tierflow")
    saved = (sys.stderr, root.handlers[:], root.level, ours.level)
    token = REQUEST_ID.set("0123456789abcdef0123456789abcdef")
    try:
        with (out / "lines.log").open("w") as sink:
            sys.stderr = sink  # the handler writes to whatever stderr is
            for _ in range(repeats):
                for variant in VARIANTS:
                    runs[variant].append(time_lines(variant, lines, warm))
                    sink.truncate(0)
    finally:  # the caller's logging as it was
        sys.stderr, root.handlers[:], level, our_level = saved
        root.setLevel(level)
        ours.setLevel(our_level)
        REQUEST_ID.reset(token)
    median = {v: statistics.median(r) for v, r in runs.items()}
    result = {
        "lines": lines,
        "repeats": repeats,
        "logger": ACCESS_LOGGER,
        "us_per_line": median,
        "runs_us_per_line": runs,
        "ratio_to_baseline": {
            v: median[v] / median["baseline"] for v in VARIANTS if v != "baseline"
        },
    }
    (out / "access_log.json").write_text(json.dumps(result, indent=2))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/bench-access-log"))
    parser.add_argument("--lines", type=whole, default=50_000)
    parser.add_argument("--warm", type=whole, default=2_000)
    parser.add_argument("--repeats", type=whole, default=5)
    args = parser.parse_args(argv)
    r = measure(args.out, lines=args.lines, warm=args.warm, repeats=args.repeats)
    for variant in VARIANTS:
        ratio = r["ratio_to_baseline"].get(variant)
        extra = "" if ratio is None else f" ({ratio:.2f} x the baseline)"
        print(f"{variant}: {r['us_per_line'][variant]:.1f} us a line{extra}")


if __name__ == "__main__":
    main()
