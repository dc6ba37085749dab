"""Content digests of input files: what a run's identity is made of, so that
a rerun (``allocate``'s resume, ``simulate --resume``) continues only the
same job."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_digest(path: Path | None) -> str:
    """SHA-256 of a file's bytes (empty for no file)."""
    if path is None:
        return ""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def folder_digest(folder: Path) -> str:
    """SHA-256 over the names and bytes of a folder's files (not recursive)."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.glob("*") if p.is_file()):
        h.update(path.name.encode())
        h.update(file_digest(path).encode())
    return h.hexdigest()
