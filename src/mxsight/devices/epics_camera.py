"""An areaDetector on-axis camera over EPICS: frames fetched from its image plugin, stamped at exposure.

``trigger()`` returns at once with a Status that completes, from a worker thread, when a frame exposed
after the trigger has been fetched and written to the HDF5 store; the RunEngine is never blocked. The
frame's exposure time is the Channel Access timestamp of ``image1:ArrayData`` (an areaDetector IOC
stamps each array with its exposure time, ``TSE = -2``), read together with the data, so the time and
the pixels always belong to the same frame even when the camera streams faster than frames are read.
Omega at exposure comes from the omega readback's history (:class:`ReadbackHistory`), not from the
readback when the frame arrived. A camera in Single mode is told to acquire at each trigger; a streaming
camera (Continuous) is left streaming, and started at staging if it is idle.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from ophyd import Component as Cpt
from ophyd import EpicsSignal, EpicsSignalRO, Kind, Signal
from ophyd.status import DeviceStatus

from mxsight.devices.camera import CameraTimeout, OnAxisCamera
from mxsight.devices.readback_history import ReadbackHistory


class EpicsOnAxisCamera(OnAxisCamera):
    """An RGB1 areaDetector camera at ``{prefix}cam1:`` with its image plugin at ``{prefix}image1:``."""

    acquire = Cpt(EpicsSignal, "cam1:Acquire", kind=Kind.omitted)
    image_mode = Cpt(EpicsSignal, "cam1:ImageMode", string=True, kind=Kind.config)
    array_counter = Cpt(EpicsSignalRO, "image1:ArrayCounter_RBV", auto_monitor=True, kind=Kind.omitted)
    array_data = Cpt(EpicsSignalRO, "image1:ArrayData", kind=Kind.omitted)
    columns = Cpt(EpicsSignalRO, "image1:ArraySize1_RBV", kind=Kind.omitted)
    rows = Cpt(EpicsSignalRO, "image1:ArraySize2_RBV", kind=Kind.omitted)
    exposure_time = Cpt(Signal, value=float("nan"), kind=Kind.normal)

    def __init__(self, *args, new_frame_timeout_s: float = 2.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.new_frame_timeout_s = float(new_frame_timeout_s)
        self._new_frame = threading.Condition()
        self._arrivals = 0
        self._omega_history: ReadbackHistory | None = None
        self._started_streaming = False
        self.array_counter.subscribe(self._frame_arrived, run=False)

    def _frame_arrived(self, **_) -> None:
        with self._new_frame:
            self._arrivals += 1
            self._new_frame.notify_all()

    def stage(self):
        rows, cols = int(self.rows.get()), int(self.columns.get())
        if (rows, cols) != self.frame_shape:
            raise ValueError(f"{self.name}: the camera serves {rows}x{cols} frames, the beamline file says {self.frame_shape[0]}x{self.frame_shape[1]}")
        if self.omega_source is not None and self._omega_history is None:
            readback = getattr(self.omega_source, "user_readback", self.omega_source)
            self._omega_history = ReadbackHistory(readback)
        staged = super().stage()
        self._started_streaming = self.image_mode.get() != "Single" and int(self.acquire.get()) == 0
        if self._started_streaming:
            self.acquire.put(1)
        return staged

    def unstage(self):
        if self._started_streaming:
            self.acquire.put(0)
            self._started_streaming = False
        return super().unstage()

    def trigger(self) -> DeviceStatus:
        status = DeviceStatus(self)
        triggered_at = time.time()
        single = self.image_mode.get() == "Single"
        if single:
            self.acquire.put(1)
        threading.Thread(target=self._take, args=(status, triggered_at), daemon=True, name=f"{self.name}-trigger").start()
        return status

    def _take(self, status: DeviceStatus, triggered_at: float) -> None:
        try:
            index, exposed_at = self._next_frame(triggered_at)
            self.exposure_time.put(exposed_at)
            self.exposure_omega_deg.put(self._omega_at(exposed_at))
            self.frame_number.put(index)
        except Exception as error:  # the Status carries it to the RunEngine
            status.set_exception(error)
        else:
            status.set_finished()

    def _next_frame(self, triggered_at: float) -> tuple[int, float]:
        """Fetch the first frame exposed after the trigger and write it: its index in the file, its exposure time."""
        frame, exposed_at = self._frame_exposed_after(triggered_at)
        self.last_frame = frame
        return self._store.append(frame), exposed_at

    def _frame_exposed_after(self, triggered_at: float) -> tuple[np.ndarray, float]:
        """The first frame exposed at or after ``triggered_at`` (POSIX seconds), and its exposure time."""
        deadline = time.monotonic() + self.new_frame_timeout_s
        while True:
            with self._new_frame:
                arrivals = self._arrivals
            if float(self.array_counter.timestamp) >= triggered_at:  # stamped at exposure, as the array
                data = np.asarray(self.array_data.get())
                exposed_at = float(self.array_data.timestamp)
                if exposed_at >= triggered_at:
                    return self._as_frame(data), exposed_at
            with self._new_frame:
                self._new_frame.wait_for(lambda: self._arrivals > arrivals, timeout=max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                raise CameraTimeout(
                    f"{self.name}: no frame exposed after the trigger within {self.new_frame_timeout_s} s "
                    f"(latest exposed {triggered_at - float(self.array_counter.timestamp):.2f} s before it): is {self.prefix}cam1:Acquire on?"
                )

    def _as_frame(self, data: np.ndarray) -> np.ndarray:
        rows, cols = self.frame_shape
        if data.size < rows * cols * 3:
            raise ValueError(f"{self.name}: array of {data.size} values is smaller than a {rows}x{cols} RGB frame")
        return data[: rows * cols * 3].astype(np.uint8).reshape(rows, cols, 3)

    def _omega_at(self, timestamp: float) -> float:
        if self._omega_history is None:
            return self.omega_readback_deg()
        return self._omega_history.at(timestamp)
