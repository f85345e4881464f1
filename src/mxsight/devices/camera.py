"""On-axis camera: ``trigger()`` acquires one RGB uint8 frame and writes it to an HDF5 file.

The event carries the frame number; the frame itself is referenced through stream resource /
stream datum documents, so Tiled registers the file instead of receiving megabytes inline.
Subclasses implement ``acquire_frame()``; ``SimOnAxisCamera`` renders what it would see;
``EpicsOnAxisCamera`` (:mod:`mxsight.devices.epics_camera`) reads an areaDetector camera.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ophyd import Component as Cpt
from ophyd import Device, Kind, Signal
from ophyd.status import Status

from mxsight.devices.hdf5_store import Hdf5FrameStore, Hdf5StoreDevice


class CameraTimeout(TimeoutError):
    """The camera delivered no new frame in time: nothing was measured, so nothing may move."""

    def __str__(self) -> str:
        return f"{type(self).__name__}: {super().__str__()}"


class CameraError(RuntimeError):
    """The camera reported a failure instead of a frame (driver error, lost connection): nothing was
    measured, so nothing may move."""

    def __str__(self) -> str:
        return f"{type(self).__name__}: {super().__str__()}"


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
