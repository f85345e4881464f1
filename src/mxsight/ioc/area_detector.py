"""An areaDetector-like camera served by caproto: ``cam1:`` controls and an ``image1:`` array plugin.

The records are those a client of a real areaDetector RGB camera reads: ``cam1:Acquire``,
``cam1:ImageMode`` (Single / Multiple / Continuous), ``cam1:NumImages``, ``cam1:AcquireTime``,
``cam1:AcquirePeriod``, ``cam1:ArrayCounter_RBV``; ``image1:ArrayData`` (RGB1: rows x cols x 3 uint8,
flattened), ``image1:ArrayCounter_RBV``, ``image1:UniqueId_RBV``, ``image1:TimeStamp_RBV`` and the
array's dimensions; and an ``HDF1:`` file plugin (:mod:`mxsight.ioc.hdf5_plugin`) that writes the
frames to HDF5 files when asked to capture. Each frame is rendered by ``render(exposure_time)`` (POSIX seconds) and published
with that time as the timestamp of ``ArrayData`` and both array counters, as an areaDetector IOC does
with ``TSE = -2``: a client learns when a frame was exposed, not when it arrived.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np
from caproto import ChannelType
from caproto.server import PVGroup, SubGroup, pvproperty

from mxsight.ioc.hdf5_plugin import EPICS_EPOCH_OFFSET_S, Hdf5FilePlugin

IMAGE_MODES = ("Single", "Multiple", "Continuous")


class CamControls(PVGroup):
    """``cam1:``: what to acquire and how often; acquires while ``Acquire`` is 1 (once in Single mode,
    ``NumImages`` in Multiple), a frame every ``AcquirePeriod`` at most."""

    acquire = pvproperty(name="Acquire", value=0, dtype=ChannelType.ENUM, enum_strings=("Done", "Acquire"))
    image_mode = pvproperty(name="ImageMode", value="Continuous", dtype=ChannelType.ENUM, enum_strings=IMAGE_MODES)
    num_images = pvproperty(name="NumImages", value=1)
    acquire_time = pvproperty(name="AcquireTime", value=0.01, precision=4)
    acquire_period = pvproperty(name="AcquirePeriod", value=0.1, precision=4)
    array_counter = pvproperty(name="ArrayCounter_RBV", value=0, read_only=True)
    detector_state = pvproperty(name="DetectorState_RBV", value="Idle", dtype=ChannelType.ENUM, enum_strings=("Idle", "Acquire"), read_only=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.started = asyncio.Event()

    @acquire.putter
    async def acquire(self, instance, value):
        if value in (1, "Acquire"):
            self.started.set()
        else:
            self.started.clear()
        return value

    @acquire.startup
    async def acquire(self, instance, async_lib):
        loop = asyncio.get_running_loop()
        while True:
            await self.started.wait()
            await self.detector_state.write("Acquire")
            mode, wanted, taken = self.image_mode.value, max(int(self.num_images.value), 1), 0
            while self.started.is_set():
                exposure = time.time()
                frame = await loop.run_in_executor(None, self.parent.render, exposure)
                taken += 1
                last = mode == "Single" or (mode == "Multiple" and taken >= wanted)
                if last:  # done before the frame is out: a client acquiring again on it is not lost
                    await self._done()
                await self.parent.publish(np.ascontiguousarray(frame, dtype=np.uint8).ravel(), exposure)
                if last:
                    break
                await asyncio.sleep(max(0.0, exposure + float(self.acquire_period.value) - time.time()))
            if self.detector_state.value != "Idle":
                await self._done()

    async def _done(self) -> None:
        self.started.clear()
        await self.acquire.write(0, verify_value=False)
        await self.detector_state.write("Idle")


class ImagePlugin(PVGroup):
    """``image1:``: the latest frame and its counters (``ArrayData`` sized by :func:`area_detector_camera`)."""

    frame_shape: tuple[int, int] = (0, 0)
    array_data = pvproperty(name="ArrayData", value=np.zeros(1, np.uint8), dtype=ChannelType.CHAR, max_length=1, read_only=True)
    array_counter = pvproperty(name="ArrayCounter_RBV", value=0, read_only=True)
    unique_id = pvproperty(name="UniqueId_RBV", value=0, read_only=True)
    time_stamp = pvproperty(name="TimeStamp_RBV", value=0.0, precision=6, read_only=True)
    dimensions = pvproperty(name="NDimensions_RBV", value=3, read_only=True)
    size0 = pvproperty(name="ArraySize0_RBV", value=3, read_only=True)
    size1 = pvproperty(name="ArraySize1_RBV", value=0, read_only=True)
    size2 = pvproperty(name="ArraySize2_RBV", value=0, read_only=True)
    color_mode = pvproperty(name="ColorMode_RBV", value="RGB1", dtype=ChannelType.ENUM, enum_strings=("Mono", "Bayer", "RGB1"), read_only=True)

    @size1.startup
    async def size1(self, instance, async_lib):
        rows, cols = self.frame_shape
        await self.size1.write(cols)
        await self.size2.write(rows)


class AreaDetectorCamera(PVGroup):
    """A camera at ``{prefix}cam1:`` / ``{prefix}image1:``; build it with :func:`area_detector_camera`."""

    cam1 = SubGroup(CamControls, prefix="cam1:")

    def __init__(self, *args, render: Callable[[float], np.ndarray], **kwargs):
        super().__init__(*args, **kwargs)
        self.render = render
        self.frames_served = 0
        self.stuck = False  # acquire, but deliver no frame (a hung camera)

    async def publish(self, data: np.ndarray, exposure: float) -> None:
        """Serve one flattened frame exposed at ``exposure`` (POSIX seconds); nothing when stuck."""
        if self.stuck:
            return
        self.frames_served += 1
        data.flags.writeable = False  # caproto then sends it without copying
        image = self.image1
        await image.array_data.write(data, timestamp=exposure)
        await image.unique_id.write(self.frames_served, timestamp=exposure)
        await image.time_stamp.write(exposure - EPICS_EPOCH_OFFSET_S, timestamp=exposure)
        await self.cam1.array_counter.write(self.frames_served, timestamp=exposure)
        await image.array_counter.write(self.frames_served, timestamp=exposure)
        await self.hdf1.receive(data.reshape(*image.frame_shape, 3), self.frames_served, exposure)


def area_detector_camera(frame_shape: tuple[int, int]) -> type[AreaDetectorCamera]:
    """The camera class for frames of ``frame_shape`` (rows, cols): its ``ArrayData`` holds one RGB frame."""
    rows, cols = (int(n) for n in frame_shape)
    length = rows * cols * 3
    array = pvproperty(name="ArrayData", value=np.zeros(length, np.uint8), dtype=ChannelType.CHAR, max_length=length, read_only=True)
    plugin = type("ImagePlugin", (ImagePlugin,), {"array_data": array, "frame_shape": (rows, cols)})
    writer = type("Hdf5FilePlugin", (Hdf5FilePlugin,), {"frame_shape": (rows, cols)})
    return type("AreaDetectorCamera", (AreaDetectorCamera,), {"image1": SubGroup(plugin, prefix="image1:"), "hdf1": SubGroup(writer, prefix="HDF1:")})
