"""An areaDetector on-axis camera whose frames its own HDF5 file plugin writes (``NDFileHDF5``).

Where the beamline's camera IOC has an HDF5 plugin, frames need not cross Channel Access: the plugin
writes them into the beamline's data folder and the events reference its file. For the file's rows to
be exactly the triggered frames (Tiled maps the n-th event to the n-th row), the camera acquires only
when triggered while staged: staging stops a streaming camera, sets ``ImageMode`` Single and starts
the plugin capturing (``Stream`` mode, unlimited); each trigger acquires one frame and completes when
``NumCaptured_RBV`` counts it, the frame's exposure time being that count's timestamp. Unstaging stops
the capture and gives the camera back as it was (streaming again if it streamed).

``ioc_write_directory`` is the data folder as the camera IOC's host sees it, when it differs from this
host's path to it (``write_directory``).
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import numpy as np
from ophyd import Component as Cpt
from ophyd import Device, EpicsSignal, EpicsSignalRO
from ophyd import FormattedComponent as FCpt
from ophyd import Kind

from mxsight.devices.camera import CameraTimeout
from mxsight.devices.epics_camera import EpicsOnAxisCamera
from mxsight.devices.hdf5_store import FrameAnnouncer, read_frame

DATASET = "/entry/data/data"  # areaDetector's default HDF5 layout


class Hdf5FilePlugin(Device):
    """The PVs of an areaDetector ``NDFileHDF5`` plugin this camera uses."""

    file_path = Cpt(EpicsSignal, "FilePath", string=True, kind=Kind.config)
    file_name = Cpt(EpicsSignal, "FileName", string=True, kind=Kind.omitted)
    file_template = Cpt(EpicsSignal, "FileTemplate", string=True, kind=Kind.omitted)
    file_write_mode = Cpt(EpicsSignal, "FileWriteMode", string=True, kind=Kind.omitted)
    num_capture = Cpt(EpicsSignal, "NumCapture", kind=Kind.omitted)
    capture = Cpt(EpicsSignal, "Capture", kind=Kind.omitted)
    capture_rbv = Cpt(EpicsSignalRO, "Capture_RBV", auto_monitor=True, kind=Kind.omitted)
    num_captured = Cpt(EpicsSignalRO, "NumCaptured_RBV", auto_monitor=True, kind=Kind.omitted)
    full_file_name = Cpt(EpicsSignalRO, "FullFileName_RBV", string=True, kind=Kind.omitted)
    write_message = Cpt(EpicsSignalRO, "WriteMessage", string=True, kind=Kind.omitted)
    enable_callbacks = Cpt(EpicsSignal, "EnableCallbacks", string=True, kind=Kind.omitted)


class PluginFrames:
    """The camera's store when its HDF5 plugin writes the frames: the file is opened and closed by the
    camera (``open``/``close`` call back into it), rows are only announced."""

    def __init__(self, camera: "EpicsHdf5OnAxisCamera", announcer: FrameAnnouncer):
        self.camera, self.announcer = camera, announcer
        self.path: Path | None = None

    def open(self) -> None:
        self.path = self.camera._start_capture()
        self.announcer.start(self.path, DATASET)

    def close(self) -> None:
        self.announcer.stop()
        self.camera._stop_capture()

    def collect_asset_docs(self):
        yield from self.announcer.collect_asset_docs()

    def describe(self, source: str) -> dict[str, dict]:
        return self.announcer.describe(source)


class EpicsHdf5OnAxisCamera(EpicsOnAxisCamera):
    """:class:`EpicsOnAxisCamera` whose frames are written by ``{prefix}{hdf5_plugin}`` (default ``HDF1:``)."""

    detector_state = Cpt(EpicsSignalRO, "cam1:DetectorState_RBV", string=True, auto_monitor=True, kind=Kind.omitted)
    hdf5 = FCpt(Hdf5FilePlugin, "{prefix}{_hdf5_plugin}", kind=Kind.omitted)

    def __init__(self, prefix: str, *args, hdf5_plugin: str = "HDF1:", ioc_write_directory: Path | str | None = None, control_timeout_s: float = 5.0, **kwargs):
        self._hdf5_plugin = hdf5_plugin
        super().__init__(prefix, *args, **kwargs)
        self.ioc_write_directory = str(ioc_write_directory or self.write_directory)
        self.control_timeout_s = float(control_timeout_s)
        self._store = PluginFrames(self, FrameAnnouncer(self.image_key, (*self.frame_shape, 3), np.uint8))
        self._captured = threading.Condition()
        self._count_stamp: tuple[int, float] = (0, 0.0)  # NumCaptured_RBV and its timestamp, from its monitor
        self._restore: tuple[str, int] | None = None
        self._triggered = 0
        self._cached: tuple[int, np.ndarray] | None = None
        self.hdf5.num_captured.subscribe(self._counted, run=False)

    def _counted(self, value=None, timestamp=None, **_) -> None:
        """The count and its timestamp, as one monitor update delivers them: ophyd sets a signal's value
        before its timestamp, so reading the two from the signal can pair a new count with the stamp
        of the one before."""
        if value is None or timestamp is None:
            return
        with self._captured:
            self._count_stamp = (int(value), float(timestamp))
            self._captured.notify_all()

    @property
    def last_frame(self) -> np.ndarray | None:
        """The latest triggered frame, read back from the plugin's file (only when asked for)."""
        if self._triggered == 0 or self._store.path is None:
            return None
        index = self._triggered - 1
        if self._cached is None or self._cached[0] != index:
            self._cached = (index, read_frame(f"file://localhost{self._store.path}", DATASET, index))
        return self._cached[1]

    @last_frame.setter
    def last_frame(self, frame) -> None:  # the base class's initial None; frames live in the file
        pass

    def _start_capture(self) -> Path:
        """Stop a streaming camera, set Single mode, and start the plugin writing a new file."""
        self._restore = (str(self.image_mode.get()), int(self.acquire.get()))
        if self._restore[1]:
            self.acquire.put(0)
            self._wait_until(lambda: self.detector_state.get() == "Idle", "the camera to stop acquiring")
        self.image_mode.put("Single", wait=True)
        plugin = self.hdf5
        plugin.enable_callbacks.put("Enable", wait=True)
        plugin.file_write_mode.put("Stream", wait=True)
        plugin.num_capture.put(0, wait=True)
        plugin.file_path.put(self.ioc_write_directory.rstrip("/") + "/", wait=True)
        plugin.file_name.put(f"{self.image_key}_{uuid.uuid4().hex}", wait=True)
        plugin.file_template.put("%s%s.h5", wait=True)
        plugin.capture.put(1)
        try:
            self._wait_until(lambda: int(plugin.capture_rbv.get()) == 1, "the HDF5 plugin to start capturing")
        except CameraTimeout as error:
            self._give_camera_back()
            raise RuntimeError(f"{plugin.prefix}: the HDF5 plugin did not start capturing: {plugin.write_message.get() or error}") from None
        self._triggered = 0
        self._cached = None
        with self._captured:
            self._count_stamp = (int(plugin.num_captured.get()), float(plugin.num_captured.timestamp))
        return Path(self.write_directory) / Path(str(plugin.full_file_name.get())).name

    def _stop_capture(self) -> None:
        plugin = self.hdf5
        try:
            plugin.capture.put(0)
            self._wait_until(lambda: int(plugin.capture_rbv.get()) == 0, "the HDF5 plugin to close its file")
        finally:
            self._give_camera_back()

    def _give_camera_back(self) -> None:
        if self._restore is None:
            return
        mode, acquiring = self._restore
        self._restore = None
        self.image_mode.put(mode, wait=True)
        if acquiring:
            self.acquire.put(1)

    def _wait_until(self, condition, what: str) -> None:
        deadline = time.monotonic() + self.control_timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise CameraTimeout(f"{self.name}: waited {self.control_timeout_s} s for {what}")
            time.sleep(0.01)

    def _next_frame(self, triggered_at: float) -> tuple[int, float]:
        """The triggered frame's row in the plugin's file and its exposure time (``NumCaptured_RBV``'s stamp)."""
        index = self._triggered
        deadline = time.monotonic() + self.new_frame_timeout_s
        with self._captured:
            while self._count_stamp[0] <= index:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CameraTimeout(
                        f"{self.name}: {self.hdf5.prefix} captured no frame within {self.new_frame_timeout_s} s of the trigger "
                        f"(captured {self._count_stamp[0]}, triggered {index + 1}): is the camera acquiring?"
                    )
                self._captured.wait(timeout=min(remaining, 0.05))
            captured, exposed_at = self._count_stamp
        if captured != index + 1:
            raise RuntimeError(
                f"{self.name}: {self.hdf5.prefix} captured {captured} frames for {index + 1} triggers: "
                "something else acquires with this camera, so the file's rows are not the triggered frames"
            )
        self._triggered += 1
        self._store.announcer.announce(index)
        return index, exposed_at
