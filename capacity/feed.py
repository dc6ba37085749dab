"""A live feed of capacity events: JSON lines applied as they arrive
(``tierflow capacity ingest --events - --follow``).

A reader thread takes the lines off the stream; the caller's thread applies
them in small batches (one transaction each: at most ``batch`` events, or
what arrived within ``linger_s`` of the batch's first line), so a quiet feed
applies each event at once and a busy one is not a transaction per line.
Event ids make it idempotent: a feed replayed from its start applies
nothing twice. A bad line (not UTF-8, not JSON, not a valid event, an
event id already used with other content, or longer than
:data:`MAX_EVENT_LINE_BYTES`) is reported with its line number and skipped;
the feed goes on. An error of ``apply`` (the store lost) ends
the feed: the reader is told to stop, and a pipe is read with ``os.read``
(:func:`pipe_lines`), so a reader still waiting for a line at exit holds no
lock of Python's stdin object (a daemon thread in ``sys.stdin.buffer``'s
read aborted the interpreter's shutdown: "could not acquire lock").
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import IO

from tierflow.capacity.events import CapacityEvent, decode_line, parse_event
from tierflow.capacity.monitor import IngestResult
from tierflow.data.errors import InputError
from tierflow.data.limits import MAX_EVENT_LINE_BYTES, now
from tierflow.data.network import Network
from tierflow.data.text_files import BOM_TEXT

#: Most events applied in one transaction.
BATCH = 200
#: How long a batch waits for more lines after its first one.
LINGER_S = 0.05
#: How often a reader waiting on a full inbox looks whether the feed ended.
_POLL_S = 0.1
#: Bytes asked of a pipe per read.
_CHUNK = 1 << 16
_END = None


@dataclass(frozen=True)
class LongLine:
    """A line over :data:`MAX_EVENT_LINE_BYTES`: only its length is kept
    (bytes, without its newline), so a feed of huge or endless lines holds
    at most the limit of one in memory."""

    length: int


#: What the reader hands over: a numbered line, the end, or why reading failed.
_Item = tuple[int, str | bytes | LongLine] | None | OSError | ValueError
#: How a batch ends the feed: None (it goes on), True (the lines ended) or
#: why reading failed.
_End = bool | OSError | ValueError | None


@dataclass
class FeedTotals:
    """What a followed feed did."""

    lines: int = 0
    applied: int = 0
    duplicates: int = 0
    #: Of the applied, older than what was known of their kind (no change).
    stale: int = 0
    bad: int = 0
    batches: int = 0
    last_seq: int = 0


def follow_events(
    lines: Iterable[str | bytes | LongLine],
    network: Network,
    apply: Callable[[Sequence[CapacityEvent]], IngestResult],
    *,
    file: str = "<stdin>",
    on_bad: Callable[[InputError], None] = lambda exc: None,
    batch: int = BATCH,
    linger_s: float = LINGER_S,
    totals: FeedTotals | None = None,
    shield: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
) -> FeedTotals:
    """Apply the feed's events as they arrive, until it ends.

    ``apply`` logs and applies one batch (``CapacityMonitor.ingest``); a line
    that is not a valid event, or whose event ``apply`` refuses, goes to
    ``on_bad`` (an ``InputError`` naming ``file``, the line number and the
    field) and is skipped. ``lines`` may be bytes (decoded here, so that a
    line that is not UTF-8 is one bad line, not the end of the feed).
    ``totals`` is counted in place, so a caller still has what was applied
    when ``apply`` raises (any other error than ``InputError`` ends the feed).
    Each batch is applied and counted inside ``shield()`` (the command's
    holds a Ctrl-C until the batch is counted: one between its commit and its
    count left a stored batch out of the summary).
    """
    inbox: queue.Queue[_Item] = queue.Queue(maxsize=10 * batch)
    stop = threading.Event()
    reader = threading.Thread(
        target=_read, args=(lines, inbox, stop), name="tierflow-feed", daemon=True
    )
    reader.start()
    totals = FeedTotals() if totals is None else totals
    end: _End = None
    try:
        while end is None:
            bad: list[InputError] = []  # the batch's, reported in line order
            events, end = _next_batch(
                inbox, network, file, totals, bad.append, batch, linger_s
            )
            try:
                if events:
                    with shield():
                        _apply(events, apply, totals, bad.append, file)
            finally:  # a line refused at the apply came before later bad ones
                for exc in sorted(bad, key=lambda e: e.row or 0):
                    on_bad(exc)
        if not isinstance(end, bool):
            raise end  # after the lines read before it were applied
    finally:
        stop.set()  # a reader between lines stops; one waiting on a pipe is left
        reader.join(timeout=2 * _POLL_S)
    return totals


def pipe_lines(
    stream: IO[bytes], limit: int = MAX_EVENT_LINE_BYTES
) -> Iterator[bytes | LongLine]:
    """The lines of ``stream`` (stdin, or a file) as they arrive, each line
    over ``limit`` bytes a :class:`LongLine`; read from its file descriptor
    with ``os.read`` when it has one.

    A thread blocked in ``os.read`` holds none of the stream object's locks,
    so the process can exit while the feed is quiet (a thread inside the
    buffered reader's read made the interpreter abort at exit). Streams
    without a descriptor (tests) are read in chunks of what they have.
    """
    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation too
        read = getattr(stream, "read1", stream.read)
        return _lines(iter(lambda: read(_CHUNK), b""), limit)
    return _lines(iter(lambda: os.read(fd, _CHUNK), b""), limit)


def _lines(chunks: Iterator[bytes], limit: int) -> Iterator[bytes | LongLine]:
    """Lines (with their newline) as the chunks bring them; the last one may
    lack it. Only each new chunk is searched for a newline: the line so far
    was split again at every read (quadratic: a 50 MB line held the feed
    27 s, every event behind it waiting). A line is kept while it is at most
    ``limit`` bytes without its line end, LF or CRLF (the CR of a CRLF
    counted made a line of the limit ended CRLF one too long); past that
    only its length is counted (one endless line grew the process without
    bound)."""
    pending = bytearray()
    over = 0  # bytes of the line so far, once it is past what is kept
    cr = False  # the line so far ends with a CR (its line end, if an LF follows)
    for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            size = over + len(pending) + end - start
            if end > start:
                cr = chunk[end - 1] == 0x0D
            if over or size - cr > limit:
                yield LongLine(size - cr)
            else:
                pending += chunk[start : end + 1]
                yield bytes(pending)
            pending.clear()
            over = 0
            cr = False
            start = end + 1
        if start < len(chunk):
            cr = chunk[-1] == 0x0D
        # one byte past the limit is kept: it may be the CR of a CRLF
        if over or len(pending) + len(chunk) - start > limit + 1:
            over += len(pending) + len(chunk) - start
            pending.clear()
        else:
            pending += chunk[start:]
    if over or len(pending) - cr > limit:  # a CR ending the stream: as stripped
        yield LongLine(over + len(pending) - cr)
    elif pending:
        yield bytes(pending)


def _apply(
    events: list[CapacityEvent],
    apply: Callable[[Sequence[CapacityEvent]], IngestResult],
    totals: FeedTotals,
    on_bad: Callable[[InputError], None],
    file: str,
) -> None:
    """One batch in one transaction; when ``apply`` refuses it (an event id
    used before with other content), each event alone, the refused ones
    reported (in ``file``) and skipped."""
    try:
        result = apply(events)
    except InputError as exc:
        if len(events) == 1:
            totals.bad += 1
            on_bad(_in_file(exc, file))
            return
        for event in events:
            _apply([event], apply, totals, on_bad, file)
        return
    totals.applied += result.applied
    totals.stale += result.stale
    totals.duplicates += result.duplicates
    totals.last_seq = result.last_seq
    totals.batches += 1


def _in_file(exc: InputError, file: str) -> InputError:
    """``exc`` naming ``file`` too (``apply`` knows the line, not the file)."""
    if exc.file is not None:
        return exc
    return type(exc)(
        exc.reason, file=file, problem=exc.problem, row=exc.row,
        position=exc.position, field=exc.field, index=exc.index, value=exc.value,
    )  # fmt: skip


def _read(
    lines: Iterable[str | bytes | LongLine],
    inbox: queue.Queue[_Item],
    stop: threading.Event,
) -> None:
    """Hand the numbered lines over until they end, reading fails or the
    feed is stopped; the end (or the failure) is always the last item."""
    last: _Item = _END
    try:
        for row, line in enumerate(lines, start=1):
            if not _put(inbox, (row, line), stop):
                return
    except (OSError, ValueError) as exc:  # a broken pipe, a file closed under it
        last = exc
    _put(inbox, last, stop)


def _put(inbox: queue.Queue[_Item], item: _Item, stop: threading.Event) -> bool:
    """Put ``item`` once there is room; False when the feed was stopped first."""
    while not stop.is_set():
        try:
            inbox.put(item, timeout=_POLL_S)
        except queue.Full:
            continue
        return True
    return False


def _next_batch(
    inbox: queue.Queue[_Item],
    network: Network,
    file: str,
    totals: FeedTotals,
    on_bad: Callable[[InputError], None],
    batch: int,
    linger_s: float,
) -> tuple[list[CapacityEvent], _End]:
    """The next batch of valid events, and whether the feed ended (see
    ``_End``)."""
    events: list[CapacityEvent] = []
    item = inbox.get()  # wait as long as the feed is quiet
    deadline = time.monotonic() + linger_s
    while item is not _END:
        if isinstance(item, OSError | ValueError):
            return events, item
        row, line = item
        totals.lines += 1
        try:
            event = _parse(line, network, file, row)
        except InputError as exc:
            totals.bad += 1
            on_bad(exc)
        else:
            if event is not None:
                events.append(event)
        left = deadline - time.monotonic()
        if len(events) >= batch or left <= 0:
            return events, None
        try:
            item = inbox.get(timeout=left)
        except queue.Empty:
            return events, None
    return events, True


def _parse(
    line: str | bytes | LongLine, network: Network, file: str, row: int
) -> CapacityEvent | None:
    """One line's event (None for a blank line)."""
    if isinstance(line, LongLine):
        message = (
            f"a line of {line.length:,} bytes, over the limit of "
            f"{MAX_EVENT_LINE_BYTES:,} bytes of one event"
        )
        raise InputError(message, file=file, row=row)
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            message = f"not UTF-8 text ({exc.reason})"
            raise InputError(message, file=file, row=row) from None
    if row == 1:  # a byte-order mark, as a file reader drops it
        line = line.removeprefix(BOM_TEXT)
    text = line.strip()
    if not text:
        return None
    event = decode_line(text, file, row)
    return parse_event(event, network, file=file, row=row, received=now())
