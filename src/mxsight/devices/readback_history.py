"""A signal's recent values with their timestamps, to ask where a motor was at an earlier instant.

A camera frame is exposed at one time and arrives later; during a continuous rotation omega has moved
on meanwhile. Subscribed to omega's readback, a :class:`ReadbackHistory` answers ``at(exposure_time)``
by interpolating between the readbacks around that time (a motor record posts its readback only when
it changes, so after the last update the motor is where that update said).
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np


class ReadbackHistory:
    """The last ``length`` (timestamp, value) pairs of ``signal``, kept by a subscription."""

    def __init__(self, signal, length: int = 4096):
        self.signal = signal
        self._samples: deque[tuple[float, float]] = deque(maxlen=length)
        self._lock = threading.Lock()
        self._token = signal.subscribe(self._record, run=True)

    def _record(self, *, value=None, timestamp=None, **_) -> None:
        if value is None or timestamp is None:
            return
        with self._lock:
            if self._samples and timestamp < self._samples[-1][0]:
                return  # an update older than one already seen (a reconnection replaying the last value)
            self._samples.append((float(timestamp), float(value)))

    def at(self, timestamp: float) -> float:
        """The value at ``timestamp``: linear between the updates around it, the last one after it, NaN
        when nothing has been seen."""
        with self._lock:
            samples = np.array(self._samples, dtype=float).reshape(-1, 2)
        if not len(samples):
            return float("nan")
        return float(np.interp(timestamp, samples[:, 0], samples[:, 1]))

    def close(self) -> None:
        self.signal.unsubscribe(self._token)
