"""On-axis camera: ``trigger()`` acquires one RGB uint8 frame and writes it to an HDF5 file.

The event carries the frame number; the frame itself is referenced through stream resource /
stream datum documents, so Tiled registers the file instead of receiving megabytes inline.
Subclasses implement ``acquire_frame()``; ``SimOnAxisCamera`` renders what it would see.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from ophyd import Component as Cpt
from ophyd import Device, EpicsSignalRO, Kind, Signal
from ophyd.status import Status

from mxsight.devices.hdf5_store import Hdf5FrameStore, Hdf5StoreDevice


class OnAxisCamera(Hdf5StoreDevice, Device):
    """Base on-axis camera; ``frame_shape`` is (rows, cols).

    ``last_frame`` keeps the latest frame for plans that show it (``click_centre``). With
    ``omega_source`` (the goniometer's omega positioner) each frame records omega's readback at
    exposure time in ``exposure_omega_deg``: during a continuous rotation that, not the omega read
    after the frame, is where the frame was taken. ``empty_fields`` (zoom level -> RGB frame, set by
    the ``record_empty_fields`` plan or loaded from Tiled) and ``zoom_source`` (the zoom device) give
    ``reference_background()``, the empty field at the current zoom.
    """

    frame_number = Cpt(Signal, value=-1, kind=Kind.normal)
    exposure_omega_deg = Cpt(Signal, value=float("nan"), kind=Kind.normal)

    def __init__(self, *args, frame_shape: tuple[int, int], write_directory: Path | str, omega_source=None, zoom_source=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.omega_source = omega_source
        self.zoom_source = zoom_source
        self.empty_fields: dict[int, np.ndarray] = {}
        self.last_frame: np.ndarray | None = None
        self.frame_shape = tuple(frame_shape)
        self.write_directory = Path(write_directory)
        self._store = Hdf5FrameStore(self.write_directory, self.image_key, (*self.frame_shape, 3), np.uint8)

    @property
    def image_key(self) -> str:
        return f"{self.name}_image"

    def acquire_frame(self) -> np.ndarray:
        """One H x W x 3 uint8 frame from the hardware."""
        raise NotImplementedError(f"{type(self).__name__} does not implement acquire_frame()")

    def reference_background(self) -> np.ndarray | None:
        """The empty field recorded at the current zoom (``empty_fields``), or None."""
        if not self.empty_fields or self.zoom_source is None:
            return None
        return self.empty_fields.get(int(self.zoom_source.level.get()))

    def omega_readback_deg(self) -> float:
        """Omega's readback now (NaN without an ``omega_source``)."""
        return float("nan") if self.omega_source is None else float(self.omega_source.position)

    def trigger(self) -> Status:
        self.exposure_omega_deg.put(self.omega_readback_deg())
        frame = self.acquire_frame()
        self.last_frame = frame
        self.frame_number.put(self._store.append(frame))
        return self._finished(self)


class EpicsOnAxisCamera(OnAxisCamera):
    """An areaDetector camera read through its image plugin (``{prefix}image1:``), RGB1 colour mode.

    A trigger waits for the plugin's array counter to advance past its value at trigger time, so every
    frame is new (no fixed sleeps), then reshapes the array to (rows, cols, 3).
    """

    array_data = Cpt(EpicsSignalRO, "image1:ArrayData", kind=Kind.omitted)
    array_counter = Cpt(EpicsSignalRO, "image1:ArrayCounter_RBV", kind=Kind.omitted)

    def __init__(self, *args, new_frame_timeout_s: float = 2.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.new_frame_timeout_s = new_frame_timeout_s

    def acquire_frame(self) -> np.ndarray:
        counter_at_trigger = self.array_counter.get()
        deadline = time.monotonic() + self.new_frame_timeout_s
        while self.array_counter.get() <= counter_at_trigger:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no new frame within {self.new_frame_timeout_s} s (counter {counter_at_trigger})")
            time.sleep(0.002)
        self.exposure_omega_deg.put(self.omega_readback_deg())
        data = np.asarray(self.array_data.get())
        rows, cols = self.frame_shape
        if data.size < rows * cols * 3:
            raise ValueError(f"{self.name}: array of {data.size} values is smaller than a {rows}x{cols} RGB frame")
        return data[: rows * cols * 3].astype(np.uint8).reshape(rows, cols, 3)
