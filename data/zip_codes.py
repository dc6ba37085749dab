"""What a US ZIP code a retailer's data may hold looks like: a 3-digit prefix,
a 5-digit ZIP or a ZIP+4, and the one error every reader gives for anything
else (an order's ``dest``, a checkout's ZIP); and a 3-digit prefix alone
(the ``zip3`` columns of the network), with its own error."""

from __future__ import annotations

import re

#: A 3-digit prefix, a 5-digit ZIP or a ZIP+4 (ASCII digits only: ``\d``
#: takes other scripts' digits too); the first three digits are the prefix.
ZIP_PATTERN = r"[0-9]{3}(?:[0-9]{2}(?:-[0-9]{4})?)?"

#: A 3-digit ZIP prefix (ASCII digits).
ZIP3_PATTERN = r"[0-9]{3}"

_ZIP = re.compile(ZIP_PATTERN)
_LOST_ZERO = re.compile(r"[0-9]{4}(?:-[0-9]{4})?")
_SHORT = re.compile(r"[0-9]{1,2}")
_WHOLE_ZIP = re.compile(r"[0-9]{5}(?:-[0-9]{4})?")


def is_zip_code(text: str) -> bool:
    """Whether ``text`` (stripped) is a prefix, a ZIP or a ZIP+4."""
    return _ZIP.fullmatch(text) is not None


def zip_code_error(text: str) -> str:
    """Why ``text`` is not a US ZIP code: the forms taken, and for four
    digits (or one or two) the likely cause, a spreadsheet that read
    ``02134`` (``041``) as a number."""
    message = "not a US ZIP code (12345, 12345-6789 or a 3-digit prefix"
    if _LOST_ZERO.fullmatch(text):
        message += f"; 4 digits: a ZIP code that lost its leading zero? write 0{text}"
    elif _SHORT.fullmatch(text):
        message += f"; {_lost_zeros(text)}"
    return message + ")"


def _lost_zeros(text: str) -> str:
    """The hint for a prefix of one or two digits."""
    digits = f"{len(text)} digit{'s' * (len(text) > 1)}"
    return f"{digits}: a prefix that lost its leading zero? write {text.zfill(3)}"


def zip3_error(text: str) -> str:
    """Why ``text`` is not a 3-digit ZIP prefix: one or two digits most
    likely lost leading zeros (a number column: ``021`` read as 21), a ZIP
    code has its prefix in its first three digits."""
    message = "not a 3-digit ZIP prefix"
    if _SHORT.fullmatch(text):
        return f"{message} ({_lost_zeros(text)})"
    if _WHOLE_ZIP.fullmatch(text):
        return f"{message} (a ZIP code: its prefix is {text[:3]})"
    return message
