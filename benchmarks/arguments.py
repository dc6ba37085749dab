"""The benchmark scripts' argparse number types, read as the CLI reads them.

``type=int`` and ``type=float`` took what Python's ``int()``/``float()``
take: ``--repeat 3_0`` as 30, ``' 5 '``, other scripts' digits, and ``inf``
or ``nan`` as a time. These take ASCII digits with an optional sign
(:mod:`tierflow.data.written_numbers`), and a refusal is argparse's usage
error (exit 2) naming the option and the text.
"""

from __future__ import annotations

import argparse
import math

from tierflow.data.written_numbers import PLAIN_DIGITS, decimal_number, whole_number


def _refused(text: str, kind: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"{text!r} is not {kind}: {PLAIN_DIGITS}")


def whole(text: str) -> int:
    """An integer option's value: ``30``, ``-4``; not ``3_0`` or ``' 5'``."""
    number = whole_number(text)
    if number is None:
        raise _refused(text, "a whole number")
    return number


def decimal(text: str) -> float:
    """A decimal option's value: ``1``, ``2.5``, ``1e3``; finite."""
    number = decimal_number(text)
    if number is None:
        raise _refused(text, "a decimal number")
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return number
