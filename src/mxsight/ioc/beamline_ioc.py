"""The simulated beamline served over EPICS Channel Access (``mxsight ioc --beamline FILE``).

The beamline file's ``[epics]`` table names the PVs (the same file the EPICS devices are built from),
its ``[simulated]`` table what stands behind them:

    [epics]
    goniometer_prefix = "SIM:GONIO:"     # motor records Omega, CentringX, CentringY, AlignmentY,
                                         # AlignmentZ, Kappa, Phi
    camera_prefix = "SIM:OAV:"           # cam1: and image1: of an areaDetector-like RGB camera
    zoom_pv = "SIM:OAV:Zoom"             # a motor record whose position is the zoom level
    control_prefix = "SIM:CTRL:"         # the simulator's own controls (default: camera_prefix + "SIM:")
    [simulated]
    seed = 0                             # the sample first mounted
    zoom = 5
    realistic_motion = false             # true: motors take time to move, at these speeds:
    omega_speed_deg_s = 180.0            #   omega, kappa and phi
    translation_speed_mm_s = 1.0         #   centring and alignment tables
    zoom_speed_levels_s = 5.0            #   the zoom
    frame_rate_hz = 10                   # the camera's AcquirePeriod while it streams
    camera_mount = "mirrored"            # the camera turned or mirrored (mxsight.sim.camera_mount.MOUNTS)

The whole file is checked against the beamline file's schema (:mod:`mxsight.beamline_file`) when read:
a wrong setting is one ValueError naming the file, the table and the key, before anything is served.

Frames are rendered by :mod:`mxsight.sim` at the motors' positions at the instant of exposure. Writing
``{control_prefix}Seed`` mounts the random sample of that seed (motors back to zero, zoom to its start);
``{control_prefix}Empty`` 1 takes the sample away (an empty field); ``{control_prefix}Mount`` turns the
camera (a mount that keeps the frame's shape); ``{control_prefix}Stuck`` 1 hangs the camera (it
acquires but delivers no frame). The camera streams (Continuous) from start-up, as an
on-axis camera feeding a beamline's video does.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass

from caproto.server import PVGroup, SubGroup, pvproperty

from mxsight.devices.sim import SimBeamline, make_sim_beamline
from mxsight.sim.camera_mount import CameraMount
from mxsight.ioc.area_detector import area_detector_camera
from mxsight.ioc.motor_record import SimMotorRecord
from mxsight.sim.projection import CAMERA_SHAPE_PX
from mxsight.sim.scene import random_sample

# Motor record name -> (simulated goniometer attribute, engineering unit, soft limits).
GONIOMETER_RECORDS = {
    "Omega": ("omega", "deg", (-100000.0, 100000.0)),
    "CentringX": ("centring_x", "mm", (-2.0, 2.0)),
    "CentringY": ("centring_y", "mm", (-2.0, 2.0)),
    "AlignmentY": ("alignment_y", "mm", (-5.0, 5.0)),
    "AlignmentZ": ("alignment_z", "mm", (-2.0, 2.0)),
    "Kappa": ("kappa", "deg", (-5.0, 240.0)),
    "Phi": ("phi", "deg", (-100000.0, 100000.0)),
}


@dataclass(frozen=True)
class IocSettings:
    """What ``mxsight ioc`` serves, from a beamline file's ``[epics]`` and ``[simulated]`` tables."""

    goniometer_prefix: str
    camera_prefix: str
    zoom_pv: str
    control_prefix: str
    seed: int = 0
    zoom: int = 5
    spindle: str = "horizontal"
    camera_mount: str | None = None  # how the simulated camera is mounted (CameraMount names); None: by spindle
    realistic_motion: bool = False
    frame_rate_hz: float = 10.0
    background_set: str | None = None
    omega_speed_deg_s: float = 180.0
    translation_speed_mm_s: float = 1.0
    zoom_speed_levels_s: float = 5.0

    def speeds(self) -> dict[str, float]:
        """Motor speed per engineering unit (units per second); 0 (moves take no time) without realistic motion."""
        speeds = {"deg": self.omega_speed_deg_s, "mm": self.translation_speed_mm_s, "level": self.zoom_speed_levels_s}
        return speeds if self.realistic_motion else dict.fromkeys(speeds, 0.0)

    @classmethod
    def from_table(cls, table: dict, source: str = "beamline file") -> "IocSettings":
        """The settings of a parsed beamline file, checked whole against its schema
        (:mod:`mxsight.beamline_file`; [epics]'s PV names required whatever the kind)."""
        from mxsight.beamline_file import validate_beamline_table

        checked = validate_beamline_table(table, source, serving=True)
        epics, simulated = checked.epics, checked.simulated
        optional = ("camera_mount", "frame_rate_hz", "background_set", "omega_speed_deg_s", "translation_speed_mm_s", "zoom_speed_levels_s")
        return cls(
            goniometer_prefix=epics.goniometer_prefix,
            camera_prefix=epics.camera_prefix,
            zoom_pv=epics.zoom_pv,
            control_prefix=epics.control_prefix or f"{epics.camera_prefix}SIM:",
            seed=simulated.seed,
            zoom=simulated.zoom,
            spindle=checked.beamline.spindle,
            realistic_motion=simulated.realistic_motion,
            **{key: getattr(simulated, key) for key in optional if getattr(simulated, key) is not None},
        )


class SimulatorControls(PVGroup):
    """``{control_prefix}``: which sample is mounted (``Seed``), whether any is (``Empty``), and how
    the camera is mounted (``Mount``: a name of ``mxsight.sim.camera_mount.MOUNTS`` that keeps the
    frame's shape, to rehearse ``calibrate_camera`` on a mirrored camera); ``Stuck`` 1 makes the camera
    acquire without ever delivering a frame (a hung camera, to rehearse ``CameraTimeout``)."""

    seed = pvproperty(name="Seed", value=0)
    empty = pvproperty(name="Empty", value=0)
    camera_mount = pvproperty(name="Mount", value="standard", dtype=str, max_length=40)
    stuck = pvproperty(name="Stuck", value=0)

    @stuck.putter
    async def stuck(self, instance, value):
        self.parent.camera.stuck = bool(value)
        return value

    @camera_mount.putter
    async def camera_mount(self, instance, value):
        self.parent.turn_camera(str(value))
        return value

    @seed.putter
    async def seed(self, instance, value):
        await self.parent.mount(int(value))
        return value

    @empty.putter
    async def empty(self, instance, value):
        self.parent.put_sample(None if value else random_sample(int(self.seed.value)))
        return value


def beamline_ioc(settings: IocSettings) -> "BeamlineIOC":
    """The IOC for ``settings``: its ``pvdb`` is what caproto serves."""
    simulation = make_sim_beamline(
        seed=settings.seed,
        zoom_level=settings.zoom,
        write_directory=tempfile.mkdtemp(prefix="mxsight-ioc-"),
        background_set=settings.background_set,
        spindle=settings.spindle,
        mount=settings.camera_mount,
    )
    levels = sorted(simulation.zoom.calibration.levels)
    speed = settings.speeds()
    body = {
        attribute: SubGroup(SimMotorRecord, prefix=f"{settings.goniometer_prefix}{record}", egu=egu, limits=limits, velocity=speed[egu])
        for record, (attribute, egu, limits) in GONIOMETER_RECORDS.items()
    }
    body["zoom"] = SubGroup(
        SimMotorRecord, prefix=settings.zoom_pv, egu="level", limits=(levels[0], levels[-1]), velocity=speed["level"], initial=settings.zoom
    )
    body["camera"] = SubGroup(area_detector_camera(simulation.camera.frame_shape), prefix=settings.camera_prefix, render=None)
    body["controls"] = SubGroup(SimulatorControls, prefix=settings.control_prefix)
    group_class = type("BeamlineIOC", (BeamlineIOC,), body)
    return group_class(prefix="", settings=settings, simulation=simulation)


class BeamlineIOC(PVGroup):
    """Motor records, zoom and camera around one :class:`SimBeamline`; built by :func:`beamline_ioc`."""

    def __init__(self, *args, settings: IocSettings, simulation: SimBeamline, **kwargs):
        super().__init__(*args, **kwargs)
        self.settings, self.simulation = settings, simulation
        self.camera.render = self.render
        self._render_lock = threading.Lock()

    def render(self, exposure_time: float):
        """The frame the camera sees at ``exposure_time``, every motor where it was then."""
        with self._render_lock:
            goniometer = self.simulation.goniometer
            for attribute, _, _ in GONIOMETER_RECORDS.values():
                getattr(goniometer, attribute).set(getattr(self, attribute).position_at(exposure_time))
            level = int(round(self.zoom.position_at(exposure_time)))
            if level != int(self.simulation.zoom.level.get()):
                self.simulation.zoom.set(level)
            return self.simulation.camera.acquire_frame()

    def put_sample(self, sample) -> None:
        """Put ``sample`` (None: nothing) in front of the camera."""
        with self._render_lock:
            self.simulation.sample = self.simulation.camera.sample = sample

    def turn_camera(self, name: str) -> None:
        """Mount the camera as ``name`` says (it must keep the frame's shape: the PVs' sizes are fixed)."""
        mount = CameraMount.named(name)
        camera = self.simulation.camera
        if mount.shape(CAMERA_SHAPE_PX) != camera.frame_shape:
            raise ValueError(f"camera mount {name!r} changes the frame's shape from {camera.frame_shape}; start the IOC with it instead")
        with self._render_lock:
            camera.mount = mount

    async def mount(self, seed: int) -> None:
        """Mount the random sample of ``seed``: motors back to zero, zoom to its start level."""
        self.put_sample(random_sample(seed))
        for attribute, _, _ in GONIOMETER_RECORDS.values():
            await getattr(self, attribute).jump_to(0.0)
        await self.zoom.jump_to(float(self.settings.zoom))
        await self.controls.empty.write(0, verify_value=False)  # its putter would mount the previous seed

    async def start_streaming(self) -> None:
        """Stream frames (Continuous, ``frame_rate_hz``) as the beamline's video camera does."""
        await self.camera.cam1.acquire_period.write(1.0 / self.settings.frame_rate_hz)
        await self.camera.cam1.image_mode.write("Continuous")
        await self.camera.cam1.acquire.write(1)
        await self.controls.seed.write(self.settings.seed, verify_value=False)


def run_ioc(settings: IocSettings, *, interfaces: list[str] | None = None) -> None:
    """Serve the beamline until interrupted, on ``interfaces`` (default: 127.0.0.1 only)."""
    from caproto.asyncio.server import run

    ioc = beamline_ioc(settings)

    async def startup(async_lib) -> None:
        await ioc.start_streaming()

    run(ioc.pvdb, interfaces=interfaces or ["127.0.0.1"], startup_hook=startup)
