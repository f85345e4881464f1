"""Test helper: the simulated beamline as ophyd-async devices (soft signals and ``SimMotor``s).

They have no ophyd v1 ``.position``, ``.get()`` or ``.limits``: a plan that drives them reads and moves
only through the RunEngine. Behind them an in-process simulated beamline renders each frame at the
motors' positions, read asynchronously when the camera is triggered.
"""

from __future__ import annotations

import bluesky.plan_stubs as bps
import numpy as np
from ophyd_async.core import AsyncStatus, StandardReadable, soft_signal_rw
from ophyd_async.core import StandardReadableFormat as Format
from ophyd_async.sim import SimMotor

from mxsight.devices.hdf5_store import Hdf5FrameStore
from mxsight.devices.sim import SimBeamline
from mxsight.devices.zoom import ZoomCalibration

MOTORS = ("omega", "centring_x", "centring_y", "alignment_y", "alignment_z")


class AsyncGoniometer(StandardReadable):
    def __init__(self, name: str = ""):
        with self.add_children_as_readables():
            for motor in MOTORS:
                setattr(self, motor, SimMotor(units="deg" if motor == "omega" else "mm"))
        super().__init__(name=name)


class AsyncZoom(StandardReadable):
    """A zoom level (soft signal) with its calibration; moving it changes the simulated optics."""

    def __init__(self, calibration: ZoomCalibration, level: int, name: str = ""):
        self.calibration = calibration
        with self.add_children_as_readables(Format.HINTED_SIGNAL):
            self.level = soft_signal_rw(int, level)
        super().__init__(name=name)

    @AsyncStatus.wrap
    async def set(self, value: int) -> None:
        self.calibration[value]
        await self.level.set(int(value))


class AsyncSimCamera(StandardReadable):
    """Renders the simulated sample at the goniometer's and zoom's positions when triggered; frames go
    to an HDF5 file announced by stream resource documents, as the ophyd v1 cameras do."""

    def __init__(self, simulation: SimBeamline, goniometer: AsyncGoniometer, zoom: AsyncZoom, name: str = ""):
        self._simulation = simulation
        self._sources = (goniometer, zoom)  # a tuple: not taken as child devices
        self.frame_shape = simulation.camera.frame_shape
        self.write_directory = simulation.camera.write_directory
        with self.add_children_as_readables(Format.UNCACHED_SIGNAL):
            self.frame_number = soft_signal_rw(int, -1)
            self.exposure_omega_deg = soft_signal_rw(float, float("nan"))
        super().__init__(name=name)
        self._store = Hdf5FrameStore(self.write_directory, self.image_key, (*self.frame_shape, 3), np.uint8)

    @property
    def omega_source(self):
        return self._sources[0].omega

    @property
    def image_key(self) -> str:
        return f"{self.name}_image"

    def reference_background(self):
        return None

    @AsyncStatus.wrap
    async def stage(self) -> None:
        self._store.open()

    @AsyncStatus.wrap
    async def unstage(self) -> None:
        self._store.close()

    @AsyncStatus.wrap
    async def trigger(self) -> None:
        simulation, (goniometer, zoom) = self._simulation, self._sources
        for motor in MOTORS:
            position = await getattr(goniometer, motor).user_readback.get_value()
            getattr(simulation.goniometer, motor).set(position).wait()
        simulation.zoom.set(await zoom.level.get_value())
        omega = await goniometer.omega.user_readback.get_value()
        frame = simulation.camera.acquire_frame()
        await self.exposure_omega_deg.set(omega)
        await self.frame_number.set(self._store.append(frame))

    async def describe(self):
        description = await super().describe()
        description.update(self._store.describe(source=f"{type(self).__name__}:{self.name}"))
        return description

    def collect_asset_docs(self):
        yield from self._store.collect_asset_docs()


def follow_motors(goniometer: AsyncGoniometer, simulation: SimBeamline):
    """Plan: put the simulated beamline's motors where the ophyd-async ones are (the camera does it at
    each frame; after a plan's last move, this does)."""
    for motor in MOTORS:
        position = yield from bps.rd(getattr(goniometer, motor))
        getattr(simulation.goniometer, motor).set(position).wait()


def async_beamline(simulation: SimBeamline) -> tuple[AsyncSimCamera, AsyncGoniometer, AsyncZoom]:
    """ophyd-async camera, goniometer and zoom in front of ``simulation`` (connected, named)."""
    goniometer = AsyncGoniometer(name="gonio")
    zoom = AsyncZoom(simulation.zoom.calibration, int(simulation.zoom.level.get()), name="zoom")
    camera = AsyncSimCamera(simulation, goniometer, zoom, name="oav")
    return camera, goniometer, zoom
