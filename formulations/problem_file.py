"""Reading the arrays of a problem file (``.npz``) safely: every member's
header (kind, size) is checked before it is loaded, and its values
(magnitude) before they are cast into an ``AssignmentProblem``. Limits:
``docs/data.md``."""

from __future__ import annotations

import os
import zipfile
import zlib
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from tierflow.data.errors import InputError
from tierflow.data.limits import MAX_PROBLEM_ENTRIES, MAX_PROBLEM_VALUE

#: What a broken or hostile file makes numpy, zipfile or zlib raise.
_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


def read_problem_arrays(
    path: str | os.PathLike[str], fields: tuple[str, ...]
) -> tuple[str | None, dict[str, NDArray[Any]]]:
    """The ``name`` (None when absent) and the arrays of a problem file.

    Raises
    ------
    InputError
        Naming the file (and the array, with the first bad index and value):
        not an ``.npz``, a member that is not a real-valued array (or, for
        ``name``, text), more than ``MAX_PROBLEM_ENTRIES`` entries, an unknown
        or missing array, or a finite value beyond ``MAX_PROBLEM_VALUE``.
    """
    file = str(path)
    arrays = _load(path, file)
    missing = {"cost", "weight", "capacity"} - set(arrays)
    if missing:
        raise InputError(f"missing arrays {sorted(missing)}", file=file)
    name = arrays.pop("name", None)
    unknown = set(arrays) - set(fields)
    if unknown:
        raise InputError(f"unknown arrays {sorted(unknown)}", file=file)
    for key, arr in arrays.items():
        _check_values(file, key, arr)
    if name is not None and (name.dtype.kind != "U" or name.ndim != 0):
        raise InputError("must be one text value", file=file, field="name")
    return (None if name is None else str(name)), arrays


def _load(path: str | os.PathLike[str], file: str) -> dict[str, NDArray[Any]]:
    try:
        # our own handle: numpy leaks its own when a damaged archive fails to open
        with open(path, "rb") as handle:
            return _members(handle, file)
    except InputError:
        raise
    except (*_READ_ERRORS, KeyError) as exc:
        raise InputError(f"cannot read npz ({exc})", file=file) from None


#: How a file that ``np.load`` reads as arrays starts: a zip archive (an
#: ``.npz``) or one ``.npy`` array. Anything else it would unpickle, which is
#: refused, with advice about ``allow_pickle`` that does not fit a text file.
_ARRAY_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")


def _members(handle: IO[bytes], file: str) -> dict[str, NDArray[Any]]:
    start = handle.read(len(_ARRAY_MAGIC[-1]))
    handle.seek(0)
    if not start.startswith(_ARRAY_MAGIC):
        raise InputError("not an .npz archive of arrays", file=file)
    loaded = np.load(handle, allow_pickle=False)
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise InputError("not an .npz archive of arrays", file=file)
    with loaded as npz:
        archive = npz.zip
        if archive is None:
            raise InputError("not an .npz archive of arrays", file=file)
        for key in npz.files:
            with archive.open(f"{key}.npy") as member:
                _check_header(file, key, member)
        return {key: npz[key] for key in npz.files}


def _check_header(file: str, key: str, member: IO[bytes]) -> None:
    """Kind and size of one member, from its header, before it is read."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    else:
        raise InputError(f"unsupported .npy version {version}", file=file, field=key)
    wanted = "U" if key == "name" else "biuf"
    if dtype.kind not in wanted:
        kind = "text" if key == "name" else "real numbers or booleans"
        message = f"must hold {kind}, not {dtype}"
        raise InputError(message, file=file, field=key)
    size = int(np.prod(shape, dtype=np.float64))
    if size > MAX_PROBLEM_ENTRIES:
        message = f"{size} entries, more than {MAX_PROBLEM_ENTRIES}"
        raise InputError(message, file=file, field=key, value=tuple(shape))


def _check_values(file: str, key: str, arr: NDArray[Any]) -> None:
    """Finite entries within +-``MAX_PROBLEM_VALUE`` (compared, not cast)."""
    if arr.dtype.kind == "b":
        return
    if arr.dtype.kind == "f":
        bad = np.isfinite(arr) & (np.abs(arr) > MAX_PROBLEM_VALUE)
    else:
        bad = (arr > MAX_PROBLEM_VALUE) | (arr < -MAX_PROBLEM_VALUE)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(
            f"beyond +-{MAX_PROBLEM_VALUE:g}",
            file=file,
            field=key,
            index=index[0] if len(index) == 1 else index,
            value=arr[index].item(),
        )
