"""The simulated beamline's clock: real time, less the time the simulator spends rendering frames.

A real camera exposes while the motors move and delivers frames without stopping them; the simulator
instead spends a fraction of a second rendering each frame. Its motors, zoom and camera therefore run
on a :class:`SimClock` that stops while a frame is rendered, so motion, exposure and the plan's own work
take the time they would at a beamline, and timings measured on the simulator (wall time less
``paused_s``) are a beamline's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class SimClock:
    """Monotonic seconds that stand still inside :meth:`paused`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paused_total_s = 0.0
        self._pauses = 0
        self._paused_since: float | None = None

    @property
    def paused_s(self) -> float:
        """Real seconds spent paused so far."""
        with self._lock:
            ongoing = time.monotonic() - self._paused_since if self._paused_since is not None else 0.0
            return self._paused_total_s + ongoing

    def now(self) -> float:
        return time.monotonic() - self.paused_s

    @contextmanager
    def paused(self) -> Iterator[None]:
        with self._lock:
            if self._pauses == 0:
                self._paused_since = time.monotonic()
            self._pauses += 1
        try:
            yield
        finally:
            with self._lock:
                self._pauses -= 1
                if self._pauses == 0:
                    self._paused_total_s += time.monotonic() - self._paused_since
                    self._paused_since = None

    def sleep_until(self, instant: float, poll_s: float = 0.002) -> None:
        """Return once :meth:`now` has reached ``instant``."""
        while (remaining := instant - self.now()) > 0:
            time.sleep(min(remaining, poll_s) if remaining > poll_s else remaining)


REAL_TIME = SimClock()  # never paused: the default of simulated devices built on their own
