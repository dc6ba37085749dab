"""Sum the per-process counts of a fuzz run (``FUZZ_REPORT=DIR``) into the
table of ``docs/fuzzing.md``: ``python -m tests.fuzz.report DIR``."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path


def summary(folder: Path) -> str:
    """A markdown table: inputs per reader and what became of them."""
    totals: dict[str, Counter[str]] = {}
    for part in sorted(folder.glob("*.json")):
        for reader, outcomes in json.loads(part.read_text()).items():
            totals.setdefault(reader, Counter()).update(outcomes)
    lines = ["| reader | inputs | outcomes |", "|---|---:|---|"]
    for reader, outcomes in sorted(totals.items()):
        shown = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
        lines.append(f"| {reader} | {sum(outcomes.values())} | {shown} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary(Path(sys.argv[1])))
