"""The access-log benchmark times real lines and leaves logging as it was."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from tierflow.benchmarks.access_log_bench import VARIANTS, measure, time_lines


def test_times_every_variant_and_restores_logging(tmp_path: Path) -> None:
    root = logging.getLogger()
    before = (root.handlers[:], root.level, logging.getLogger("tierflow").level)
    result = measure(tmp_path, lines=200, warm=20, repeats=3)
    assert set(result["us_per_line"]) == set(VARIANTS)
    assert all(len(r) == 3 and min(r) > 0 for r in result["runs_us_per_line"].values())
    assert set(result["ratio_to_baseline"]) == {"text", "json"}
    assert json.loads((tmp_path / "access_log.json").read_text()) == result
    after = (root.handlers[:], root.level, logging.getLogger("tierflow").level)
    assert after == before


def test_each_variant_writes_its_own_line_format(tmp_path: Path) -> None:
    saved = sys.stderr
    root, ours = logging.getLogger(), logging.getLogger("tierflow")
    handlers, level, our_level = root.handlers[:], root.level, ours.level
    try:
        for variant, check in (
            ("baseline", lambda line: line.startswith('127.0.0.1:51234 "POST ')),
            ("text", lambda line: " INFO tierflow.access: 127.0.0.1:51234 " in line),
            ("json", lambda line: json.loads(line)["status"] == 200),
        ):
            path = tmp_path / f"{variant}.log"
            with path.open("w") as sink:
                sys.stderr = sink
                time_lines(variant, 3, 1)
            lines = path.read_text().splitlines()
            assert len(lines) == 4 and all(check(line) for line in lines), variant
    finally:
        sys.stderr = saved
        root.handlers[:] = handlers
        root.setLevel(level)
        ours.setLevel(our_level)
