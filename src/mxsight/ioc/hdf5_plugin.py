"""An areaDetector-like HDF5 file plugin served by caproto (``{camera_prefix}HDF1:``).

It writes the camera's frames where a client tells it, as ``NDFileHDF5`` does in ``Stream`` mode:
``FilePath`` / ``FileName`` / ``FileTemplate`` / ``FileNumber`` name the file, ``Capture`` 1 opens it
and every frame the camera publishes from then on is appended to ``/entry/data/data`` (with its
``NDArrayUniqueId`` and ``NDArrayTimeStamp`` attributes) until ``NumCapture`` frames are captured
(0: until ``Capture`` 0). ``NumCaptured_RBV`` and ``ArrayCounter_RBV`` carry the frame's exposure time
as their timestamp. The file is flushed after each frame in HDF5's single-writer / multiple-reader
mode, so a client reads a frame as soon as ``NumCaptured_RBV`` counts it. Only ``Stream`` mode is
served; ``Capture`` in another mode, or into a folder the IOC cannot see, fails with ``WriteStatus``
"Write error" and a ``WriteMessage`` that says why.
"""

from __future__ import annotations

import os

import h5py
import numpy as np
from caproto import ChannelType
from caproto.server import PVGroup, pvproperty

DATA_PATH = "/entry/data/data"
ATTRIBUTES_GROUP = "/entry/instrument/NDAttributes"
WRITE_MODES = ("Single", "Capture", "Stream")
EPICS_EPOCH_OFFSET_S = 631152000.0  # EPICS time counts from 1990-01-01, POSIX time from 1970-01-01


def _text(name: str, value: str = "") -> pvproperty:
    return pvproperty(name=name, value=value, dtype=ChannelType.CHAR, max_length=256, string_encoding="latin-1")


class Hdf5FilePlugin(PVGroup):
    """``HDF1:``: appends published frames to one HDF5 file per capture (``Stream`` mode)."""

    frame_shape: tuple[int, int] = (0, 0)  # rows, cols: set by mxsight.ioc.area_detector.area_detector_camera

    file_path = _text("FilePath")
    file_path_exists = pvproperty(name="FilePathExists_RBV", value=0, read_only=True)
    file_name = _text("FileName", "frames")
    file_template = _text("FileTemplate", "%s%s_%3.3d.h5")
    file_number = pvproperty(name="FileNumber", value=0)
    auto_increment = pvproperty(name="AutoIncrement", value="Yes", dtype=ChannelType.ENUM, enum_strings=("No", "Yes"))
    full_file_name = _text("FullFileName_RBV")
    file_write_mode = pvproperty(name="FileWriteMode", value="Stream", dtype=ChannelType.ENUM, enum_strings=WRITE_MODES)
    num_capture = pvproperty(name="NumCapture", value=0)
    num_captured = pvproperty(name="NumCaptured_RBV", value=0, read_only=True)
    capture = pvproperty(name="Capture", value=0, dtype=ChannelType.ENUM, enum_strings=("Done", "Capture"))
    capture_rbv = pvproperty(name="Capture_RBV", value=0, dtype=ChannelType.ENUM, enum_strings=("Done", "Capture"), read_only=True)
    write_status = pvproperty(name="WriteStatus", value="Write OK", dtype=ChannelType.ENUM, enum_strings=("Write OK", "Write error"), read_only=True)
    write_message = _text("WriteMessage")
    enable_callbacks = pvproperty(name="EnableCallbacks", value="Enable", dtype=ChannelType.ENUM, enum_strings=("Disable", "Enable"))
    array_counter = pvproperty(name="ArrayCounter_RBV", value=0, read_only=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._file: h5py.File | None = None

    @file_path.putter
    async def file_path(self, instance, value):
        await self.file_path_exists.write(int(os.path.isdir(value)))
        return value

    @capture.putter
    async def capture(self, instance, value):
        if value in (1, "Capture"):
            return "Capture" if await self._open() else "Done"
        await self._close()
        return "Done"

    async def _open(self) -> bool:
        if self._file is not None:
            return True
        mode, folder = self.file_write_mode.value, self.file_path.value
        if mode != "Stream":
            return await self._fail(f"FileWriteMode {mode} is not served by this IOC: use Stream")
        if not os.path.isdir(folder):
            return await self._fail(f"FilePath {folder!r} does not exist on the IOC's host")
        try:
            path = _file_name(self.file_template.value, folder, self.file_name.value, int(self.file_number.value))
            self._file = _create(path, (*self.frame_shape, 3))
        except (TypeError, ValueError, OSError) as error:
            return await self._fail(f"cannot create the file: {error}")
        if self.auto_increment.value == "Yes":
            await self.file_number.write(int(self.file_number.value) + 1)
        await self.full_file_name.write(path)
        await self.num_captured.write(0)
        await self.write_status.write("Write OK")
        await self.write_message.write("")
        await self.capture_rbv.write("Capture")
        return True

    async def _fail(self, message: str) -> bool:
        await self.write_status.write("Write error")
        await self.write_message.write(message[:255])
        return False

    async def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        await self.capture_rbv.write("Done")

    async def receive(self, frame: np.ndarray, unique_id: int, exposure: float) -> None:
        """One published frame (rows x cols x 3 uint8) exposed at ``exposure`` (POSIX seconds)."""
        if self.enable_callbacks.value != "Enable":
            return
        await self.array_counter.write(int(self.array_counter.value) + 1, timestamp=exposure)
        if self._file is None:
            return
        _append(self._file, frame, unique_id, exposure - EPICS_EPOCH_OFFSET_S)
        captured = int(self.num_captured.value) + 1
        await self.num_captured.write(captured, timestamp=exposure)
        if 0 < int(self.num_capture.value) <= captured:
            await self._close()
            await self.capture.write("Done", verify_value=False)


def _file_name(template: str, folder: str, name: str, number: int) -> str:
    """``FileTemplate`` filled as areaDetector's C ``sprintf`` does: arguments it does not use are ignored."""
    arguments = (folder, name, number)
    for count in (3, 2, 1):
        try:
            return template % arguments[:count]
        except TypeError:
            continue
    raise ValueError(f"FileTemplate {template!r} does not take (path, name, number)")


def _create(path: str, frame_shape: tuple[int, ...]) -> h5py.File:
    """A new file (never over an old one) with empty datasets for RGB frames, in SWMR mode."""
    handle = h5py.File(path, "w-", libver="latest")
    try:
        handle.create_dataset(DATA_PATH, shape=(0, *frame_shape), maxshape=(None, *frame_shape), chunks=(1, *frame_shape), dtype=np.uint8)
        for name, dtype in (("NDArrayUniqueId", np.int64), ("NDArrayTimeStamp", np.float64)):
            handle.create_dataset(f"{ATTRIBUTES_GROUP}/{name}", shape=(0,), maxshape=(None,), dtype=dtype)
        handle.swmr_mode = True
        return handle
    except Exception:
        handle.close()
        raise


def _append(handle: h5py.File, frame: np.ndarray, unique_id: int, epics_time_s: float) -> None:
    """Append one frame and its attributes, each flushed for SWMR readers."""
    row = handle[DATA_PATH].shape[0]
    for name, value in ((DATA_PATH, frame), (f"{ATTRIBUTES_GROUP}/NDArrayUniqueId", unique_id), (f"{ATTRIBUTES_GROUP}/NDArrayTimeStamp", epics_time_s)):
        dataset = handle[name]
        dataset.resize(row + 1, axis=0)
        dataset[row] = value
        dataset.flush()
