"""Every relative link of the README and ``docs/`` reaches a file, and every
``#anchor`` a heading of its page: the docs are read on GitHub and in a
clone, and a section moved to another page (the fleet's history went to
``docs/results/``) must not leave links pointing nowhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(
    [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "docs").glob("*/*.md")]
)
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+?)\s*$")
FENCE = re.compile(r"^\s*```")


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped
    (hyphens and underscores kept), spaces made hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of ``page``'s headings (outside code blocks)."""
    out: set[str] = set()
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        heading = HEADING.match(line)
        if heading and not fenced:
            out.add(github_anchor(heading.group(1)))
    return out


def broken_links(page: Path) -> list[str]:
    """``page``'s relative links whose file or anchor does not exist."""
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        where = (page.parent / path).resolve() if path else page
        if not where.exists():
            broken.append(f"{target}: no such file")
        elif anchor and where.suffix == ".md" and anchor not in anchors(where):
            broken.append(f"{target}: no such heading in {where.name}")
    return broken


def test_github_anchor_drops_punctuation_and_keeps_hyphens() -> None:
    assert github_anchor("Fleet (`make bench-fleet`)") == "fleet-make-bench-fleet"
    assert (
        github_anchor("A fleet: workers and replicas") == "a-fleet-workers-and-replicas"
    )
    assert github_anchor("Server CPU per request (service_cpu)") == (
        "server-cpu-per-request-service_cpu"
    )


def test_a_link_to_a_missing_heading_is_found(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text(
        "# Other\n\n## Fleet figures\n", encoding="utf-8"
    )
    page = tmp_path / "page.md"
    page.write_text(
        "[a](other.md#fleet-figures) [b](other.md#fleet-history) [c](gone.md) "
        "[d](#here)\n\n## Here\n\n```\n# not a heading\n```\n[e](#not-a-heading)\n",
        encoding="utf-8",
    )
    assert broken_links(page) == [
        "other.md#fleet-history: no such heading in other.md",
        "gone.md: no such file",
        "#not-a-heading: no such heading in page.md",
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_reaches_its_file_and_heading(page: Path) -> None:
    assert broken_links(page) == []
