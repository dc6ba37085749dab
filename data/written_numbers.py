"""Numbers as a user writes them in an option, a setting or a file: ASCII
digits, a sign that may lead, and (for a decimal) a point and an exponent.

Python's ``int()`` and ``float()`` read more: ``3_0`` as 30 (a typo taken
for a number), ``' 5 '`` with its spaces, and the digits of every script
(``٣٠``, full-width ``３０``). One parser serves every reader that takes a
number text by text, so all of them take the same numbers and refuse the
same typos; the table readers' ``pandas.to_numeric`` takes ASCII already.
"""

from __future__ import annotations

import re

#: A whole number as written: ASCII digits, a sign that may lead.
_WHOLE = re.compile(r"[+-]?[0-9]+")
#: A decimal as written: ``1``, ``1.5``, ``.5``, ``1e3``, ``-2.5E-3``.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: What ``float()`` reads as no finite number: a reader names it "not finite".
_NOT_FINITE = re.compile(r"[+-]?(?:inf|infinity|nan)", re.IGNORECASE)

#: Why a text Python would read as a number is refused, for a message.
PLAIN_DIGITS = (
    "write it in digits 0-9 (a sign may lead), without '_', spaces or "
    "other scripts' digits"
)


def whole_number(text: str) -> int | None:
    """``text``'s integer when written in ASCII digits with an optional sign
    (``30``, ``-4``, ``+007``); None for anything else, ``3_0`` and ``' 5'``
    among them."""
    return int(text) if _WHOLE.fullmatch(text) else None


def decimal_number(text: str) -> float | None:
    """``text``'s float when written as an ASCII decimal (``1.5``, ``.5``,
    ``1e3``) or as ``inf``/``nan`` (which the caller refuses as not
    finite, in its words); None for anything else."""
    if _DECIMAL.fullmatch(text) or _NOT_FINITE.fullmatch(text):
        return float(text)
    return None


def python_would_read(text: str, *, whole: bool = False) -> bool:
    """Whether Python's ``float()`` (``int()`` with ``whole``) reads
    ``text``, so that a refusal should say why: its writer thinks it a
    number (``1.5`` as an integer is refused for another reason)."""
    try:
        int(text) if whole else float(text)
    except ValueError:
        return False
    return True
