"""The contract every reader keeps on corrupted input, and how a fuzz run is
sized and counted.

A reader either loads the input or raises ``InputError`` whose message names
the file (and, where the corruption sits in a row, the row or field); never
another exception type and never a warning (pytest runs with
``filterwarnings = error``). ``make test`` runs a short, derandomized pass;
``HYPOTHESIS_PROFILE=fuzz`` (``make fuzz``) a long, random one. With
``FUZZ_REPORT=DIR`` each pytest process writes how many inputs every reader
was given and how many it loaded or rejected (``docs/fuzzing.md``).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from hypothesis import HealthCheck, settings

from tierflow.data.errors import InputError

#: True under ``HYPOTHESIS_PROFILE=fuzz`` (the long run).
LONG = os.environ.get("HYPOTHESIS_PROFILE", "") == "fuzz"
#: Inputs and outcomes per reader in this process: ``(reader, outcome)``.
COUNTS: Counter[tuple[str, str]] = Counter()


def fuzz(short: int, long: int = 2000) -> settings:
    """Settings of one fuzz test: ``short`` examples in ``make test``
    (derandomized, so the pass is the same every time), ``long`` in the long
    run; ``FUZZ_EXAMPLES=N`` sets every test's count."""
    size = int(os.environ.get("FUZZ_EXAMPLES", "0")) or (long if LONG else short)
    return settings(
        max_examples=size,
        derandomize=not LONG,
        database=None,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
            HealthCheck.filter_too_much,
        ],
    )


def expect_contract(
    reader: str,
    load: Callable[[], object],
    files: Iterable[str],
    *,
    located: bool = False,
    rejects: type[Exception] = InputError,
) -> Exception | None:
    """Run ``load``: it loads, or raises ``InputError`` (or ``rejects``: the
    settings file's ``click.ClickException``) naming one of ``files`` (and,
    when ``located``, a row, record, position or field). Anything else
    propagates and fails the test. Returns the error, if any."""
    try:
        load()
    except rejects as exc:
        COUNTS[(reader, "rejected")] += 1
        message = str(exc)
        assert any(name in message for name in files), message
        assert "\n" not in message, message
        if located and isinstance(exc, InputError):
            where = (exc.row, exc.position, exc.field, exc.problem)
            assert any(part is not None for part in where), message
        return exc
    COUNTS[(reader, "loaded")] += 1
    return None


def write_report(folder: Path) -> None:
    """This process's counts as ``<folder>/<worker>.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    table: dict[str, dict[str, int]] = {}
    for (reader, outcome), n in sorted(COUNTS.items()):
        table.setdefault(reader, {})[outcome] = n
    (folder / f"{worker}.json").write_text(json.dumps(table, indent=1) + "\n")
