"""The Python examples a newcomer copies from the docs run as written.

Each ```python block of the pages below is a whole program (the README's
``solve``, the checkout's ``OnlineRouter``); it runs in a fresh interpreter
in an empty folder, so a renamed function, argument or attribute fails here
and not in a reader's terminal. Fragments (``docs/solver.md``'s signatures)
are not on the list.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

#: The pages whose ```python blocks are whole programs.
PAGES = [ROOT / "README.md", ROOT / "docs" / "checkout.md", ROOT / "docs" / "cli.md"]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _examples() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in _BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{page.relative_to(ROOT)}:{line}", match.group(1)))
    return found


EXAMPLES = _examples()


def test_every_page_has_its_example() -> None:
    assert [where.split(":")[0] for where, _ in EXAMPLES] == [
        "README.md",
        "docs/checkout.md",
        "docs/cli.md",
    ]


@pytest.mark.parametrize(("where", "code"), EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_the_python_example_runs(
    where: str, code: str, tmp_path: Path, sample_dir: Path
) -> None:
    # sample_dir: the embedded network is in the session's cache already
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, f"{where}:\n{done.stderr}"
