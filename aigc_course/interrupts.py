"""Ctrl-C (or the notebook's interrupt button) deferred to the end of the current training step.

A ``KeyboardInterrupt`` that lands between ``optimizer.step()`` and the line that records the step leaves
the model one update ahead of its history: a checkpoint written then, resumed, applies that update twice.
:class:`DeferredInterrupt` replaces Python's SIGINT handler while a loop runs: the first signal only sets
``requested`` (the loop stops at the next step boundary, where model, history and random state agree); a
second one raises at once, for a step that hangs (the loop then knows the step is incomplete: ``forced``).
Outside the main thread (where signal handlers cannot be set) it does nothing and interrupts act as usual.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType


class DeferredInterrupt:
    """``with DeferredInterrupt() as guard:`` ... ``if guard.requested: stop cleanly``."""

    def __init__(self, message: str = "Interrupt received: stopping after this step (interrupt again to stop "
                                      "at once, losing the step).") -> None:
        self.message = message
        self.requested = False   # a first SIGINT arrived: stop at the next boundary
        self.forced = False      # a second SIGINT arrived and raised KeyboardInterrupt mid-step
        self._previous = None
        self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            self.forced = True
            raise KeyboardInterrupt
        self.requested = True
        print(self.message, flush=True)

    def __enter__(self) -> DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            try:
                self._previous = signal.signal(signal.SIGINT, self._handle)
                self._installed = True
            except (ValueError, OSError):  # e.g. an embedded interpreter without signal support
                self._installed = False
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous if self._previous is not None else signal.default_int_handler)
            self._installed = False
