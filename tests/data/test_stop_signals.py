"""Stop signals held while a step must finish, then given to the handlers
they were taken from (``data/stop_signals.py``)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType

import pytest

from tierflow.data.stop_signals import held_stop_signals, stop_on_signal


class Stopped(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signum)


@pytest.fixture
def handlers() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Stopped` during the test."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for signum in before:
        signal.signal(signum, _raise)
    yield
    for signum, handler in before.items():
        signal.signal(signum, handler)


@pytest.mark.usefixtures("handlers")
def test_a_signal_inside_is_held_and_given_on_after() -> None:
    with held_stop_signals() as held:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)  # the first is kept
        assert held.taken == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is _raise
    assert signal.getsignal(signal.SIGINT) is _raise
    with pytest.raises(Stopped) as stopped:
        held.deliver()
    assert stopped.value.signum == signal.SIGTERM


@pytest.mark.usefixtures("handlers")
def test_not_holding_gives_a_signal_on_at_once_and_can_leave_them_ignored() -> None:
    with held_stop_signals() as held:
        held.holding = False
        held.then_ignore = True
        with pytest.raises(Stopped):
            os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    # ignored for the rest of the run (a summary being printed)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


@pytest.mark.usefixtures("handlers")
def test_a_second_signal_insist_s_after_the_held_one_is_given_on_at_once() -> None:
    """A step waiting on another process (a lock) could not be stopped at
    all: with ``insist_s`` set, a second signal that long after the first
    stops it; one sooner is held with the first."""
    with held_stop_signals() as held:
        held.insist_s = 0.2
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)  # at once: still held
        assert held.taken == signal.SIGINT
        time.sleep(0.25)
        with pytest.raises(Stopped) as stopped:
            os.kill(os.getpid(), signal.SIGTERM)
    assert stopped.value.signum == signal.SIGINT  # the first one's handler


@pytest.mark.usefixtures("handlers")
def test_an_ignored_signal_stays_ignored_and_other_threads_take_none() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # nohup-like
    with held_stop_signals() as held:
        assert set(held.handlers) == {signal.SIGINT}
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    seen: list[dict[int, object]] = []

    def elsewhere() -> None:
        with held_stop_signals() as other:
            seen.append(dict(other.handlers))

    worker = threading.Thread(target=elsewhere)
    worker.start()
    worker.join()
    assert seen == [{}]


@pytest.mark.usefixtures("handlers")
def test_stop_on_signal_calls_stop_from_another_thread_and_unsets_the_fd() -> None:
    """The signal's byte reaches the watcher before the block's end closes
    its socket, so ``stop`` has been called once the block is left."""
    called = threading.Event()
    with pytest.raises(Stopped), stop_on_signal(called.set):
        os.kill(os.getpid(), signal.SIGTERM)
    assert called.is_set()
    assert signal.set_wakeup_fd(-1) == -1
    with stop_on_signal(called.clear):  # no signal: stop is not called
        pass
    assert called.is_set()


@pytest.mark.usefixtures("handlers")
def test_a_signal_as_the_wakeup_fd_is_set_leaves_none_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Ctrl-C that came as ``set_wakeup_fd`` returned (or as the watcher
    started: a solve's model still being built on a loaded machine) raised
    before the block's ``try``, so the fd stayed set: the next block took it
    for an event loop's and left its solve deaf to Ctrl-C. Sent from inside
    the call here, the signal lands there every time."""
    set_wakeup_fd = signal.set_wakeup_fd

    def set_then_signal(fd: int, **kwargs: bool) -> int:
        previous = set_wakeup_fd(fd, **kwargs)
        if fd != -1:
            os.kill(os.getpid(), signal.SIGTERM)  # the handler raises here
        return previous

    monkeypatch.setattr(signal, "set_wakeup_fd", set_then_signal)
    called = threading.Event()
    with pytest.raises(Stopped), stop_on_signal(called.set):
        pytest.fail("the block ran")
    monkeypatch.undo()
    assert signal.set_wakeup_fd(-1) == -1
    assert called.is_set()  # the byte was read before the watcher ended
    assert "tierflow-stop-signal" not in {t.name for t in threading.enumerate()}
