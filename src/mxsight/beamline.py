"""Which beamline a session drives, from a small TOML file: the simulated one (default) or EPICS devices.

    [beamline]
    kind = "simulated"          # or "epics"
    name = "sim-px"             # recorded as the runs' ``beamline`` (default: the kind)
    spindle = "horizontal"      # or "vertical" (simulated: the camera turned; EPICS: until calibrate_camera measures it)

    [simulated]                 # kind = "simulated", and what ``mxsight ioc`` serves
    seed = 0                    # the random sample (SimBeamline.sample), >= 0
    zoom = 5                    # the starting zoom level
    realistic_motion = false    # true: omega 180 deg/s, translations 1 mm/s, zoom 5 levels/s, camera 30 fps
    omega_speed_deg_s = 180.0   # optional, > 0: those speeds (with realistic_motion)
    translation_speed_mm_s = 1.0
    zoom_speed_levels_s = 5.0
    frame_rate_hz = 30          # optional, (0, 1000]: the camera streams at this (with realistic_motion; mxsight ioc: always, default 10)
    background_set = "older_background"  # optional: a set of mxsight.sim.backgrounds (default: by seed)
    empty_pins = []             # sample ids the simulated sample changer finds empty
    camera_mount = "mirrored"   # the simulated camera turned or mirrored (mxsight.sim.camera_mount.MOUNTS)
    zoom_calibration = "zoom.toml"   # what plans believe (default: the simulator's own, calibrated)

    [epics]                     # kind = "epics" (Channel Access through pyepics or caproto)
    goniometer_prefix = "BL:GONIO:"  # motor records Omega, CentringX, CentringY, AlignmentY, AlignmentZ
    kappa = false               # true: KappaGoniometer (Kappa, Phi motors)
    camera_prefix = "BL:OAV:"   # areaDetector cam1: and image1: (RGB1)
    hdf5_plugin = "HDF1:"       # optional: the camera's NDFileHDF5 plugin writes the frames (else image1: is read)
    ioc_write_directory = "/data/oav"  # optional: the data folder as the camera IOC's host sees it
    frame_shape = [1024, 1360]  # rows, columns: each >= 16
    zoom_pv = "BL:OAV:Zoom"     # motor record whose position is the zoom level
    zoom_calibration = "zoom.toml"   # relative to this file: micrometres per pixel, beam, per level,
                                     # the camera's orientation ([camera], written by calibrate_camera)
    frame_timeout_s = 2.0       # > 0: no frame exposed after a trigger within this: CameraTimeout
    connection_timeout_s = 5.0  # > 0: every PV connects within this when the beamline is loaded
    control_prefix = "BL:OAV:SIM:"   # mxsight ioc only: the simulator's controls (default: camera_prefix + "SIM:")

    [alignment]                 # confidence limits (ConfidenceLimits; docs/alignment.md): lengths in
    max_residual_rms_um = 1.75  # micrometres > 0, shares in [0, 1], min_frames >= 4

goniometer_prefix, camera_prefix, zoom_pv and zoom_calibration are required for kind = "epics". Every
table and key is checked when the file is loaded, before any device is built (the schema:
:mod:`mxsight.beamline_file`): an unknown key, a value of the wrong type (``"no"`` for a boolean) or out
of range, or a zoom calibration file that is missing or wrong is one ValueError naming the file, the
table and the key. ``mxsight.beamline_file.read_beamline_file`` checks a file without building anything.

``mxsight ioc --beamline FILE`` serves the simulated beamline on the PVs such a file names.

The IPython profile and the queue server read it (``MXSIGHT_BEAMLINE``), so both drive the same devices.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from mxsight.beamline_file import EpicsDevicesTable, SimulatedTable, validate_beamline_table
from mxsight.plans.confidence_limits import ConfidenceLimits
from mxsight.plans.sweeps import with_limits
from mxsight.toml_files import read_toml


@dataclass
class Beamline:
    """The devices plans take, and the simulated beamline behind them when there is one."""

    name: str
    spindle: str
    camera: object
    goniometer: object
    zoom: object
    detector: object | None = None
    simulation: object | None = None
    sample_changer: object | None = None
    calibration_file: Path | None = None  # the zoom calibration file calibrate_camera writes over
    sweeps: tuple = ()  # auto_centre's sweeps with this beamline's confidence limits ([alignment])


def simulated_config(*, seed: int = 0, zoom: int = 5, spindle: str = "horizontal") -> dict:
    """The config table of a simulated beamline (what a TOML file would hold)."""
    return {"beamline": {"kind": "simulated", "name": "simulated", "spindle": spindle}, "simulated": {"seed": seed, "zoom": zoom}}


def load_beamline(path: Path | str | dict | None, write_directory: Path | str) -> Beamline:
    """The beamline a TOML file (or the same table as a dict) describes; None: the simulated one.

    The file is checked whole against its schema (:mod:`mxsight.beamline_file`) before any device is
    built: a wrong setting is one ValueError naming the file, the table and the key."""
    if isinstance(path, dict):
        table, path = path, None
    else:
        table = read_toml(path, "beamline config") if path is not None else {}
    base = Path(path).parent if path is not None else Path.cwd()
    settings = validate_beamline_table(table, str(path) if path is not None else "beamline config", base)
    limits = dataclasses.replace(ConfidenceLimits(), **settings.alignment.limits())
    spindle = settings.beamline.spindle
    if settings.beamline.kind == "epics":
        beamline = _epics(settings.epics, settings.name, spindle, base, write_directory, path)
    else:
        beamline = _simulated(settings.simulated, settings.name, spindle, base, write_directory)
    return dataclasses.replace(beamline, sweeps=with_limits(limits))


def _simulated(options: SimulatedTable, name: str, spindle: str, base: Path, write_directory) -> Beamline:
    from mxsight.devices.sim import make_sim_beamline
    from mxsight.devices.sim_detector import SimDiffractionDetector
    from mxsight.devices.sim_sample_changer import SimSampleChanger
    from mxsight.devices.zoom import ZoomCalibration

    calibration_file = base / options.zoom_calibration if options.zoom_calibration is not None else None
    calibration = _with_spindle(ZoomCalibration.from_file(calibration_file), spindle) if calibration_file is not None else None
    simulation = make_sim_beamline(
        seed=options.seed,
        zoom_level=options.zoom,
        write_directory=write_directory,
        realistic_motion=_motion(options),
        background_set=options.background_set,
        spindle=spindle,
        mount=options.camera_mount,
        calibration=calibration,
    )
    detector = SimDiffractionDetector(name="detector", camera=simulation.camera)
    changer = SimSampleChanger(name="sample_changer", beamline=simulation, empty_pins=options.empty_pins)
    return Beamline(name, simulation.camera.spindle, simulation.camera, simulation.goniometer, simulation.zoom, detector, simulation, changer, calibration_file)


def _motion(options: SimulatedTable):
    """``realistic_motion``, at the file's speeds and frame rate where it sets them."""
    from mxsight.devices.sim import RealisticMotion

    if not options.realistic_motion:
        return False
    fields = {
        "omega_speed_deg_s": "omega_deg_s", "translation_speed_mm_s": "translation_mm_s",
        "zoom_speed_levels_s": "zoom_levels_s", "frame_rate_hz": "frame_rate_hz",
    }
    return RealisticMotion(**{field: getattr(options, key) for key, field in fields.items() if getattr(options, key) is not None})


def _epics(options: EpicsDevicesTable, name: str, spindle: str, base: Path, write_directory, path) -> Beamline:
    from mxsight.devices.epics_camera import EpicsOnAxisCamera
    from mxsight.devices.goniometer import Goniometer, KappaGoniometer
    from mxsight.devices.zoom import EpicsZoom, ZoomCalibration

    calibration = _with_spindle(ZoomCalibration.from_file(base / options.zoom_calibration), spindle)
    try:
        goniometer_class = KappaGoniometer if options.kappa else Goniometer
        goniometer = goniometer_class(options.goniometer_prefix, name="gonio")
    except NotImplementedError as error:
        raise RuntimeError(f"EPICS devices need a control layer: pip install pyepics (or caproto) ({error})") from error
    zoom = EpicsZoom(options.zoom_pv, name="zoom", calibration=calibration)
    camera_options = dict(
        name="oav", frame_shape=tuple(options.frame_shape),
        write_directory=write_directory, omega_source=goniometer.omega, zoom_source=zoom,
        new_frame_timeout_s=options.frame_timeout_s,
    )
    if options.hdf5_plugin is not None:
        from mxsight.devices.epics_hdf5_camera import EpicsHdf5OnAxisCamera

        camera = EpicsHdf5OnAxisCamera(
            options.camera_prefix, hdf5_plugin=options.hdf5_plugin, ioc_write_directory=options.ioc_write_directory, **camera_options
        )
    else:
        camera = EpicsOnAxisCamera(options.camera_prefix, **camera_options)
    for device in (goniometer, zoom, camera):
        _connect(device, options.connection_timeout_s, path)
    return Beamline(name, calibration.geometry.spindle, camera, goniometer, zoom, calibration_file=base / options.zoom_calibration)


def _with_spindle(calibration, spindle: str):
    """A calibration that never measured the camera's orientation takes the file's ``spindle`` (signs
    +1): what plans use when told to run uncalibrated."""
    from mxsight.geometry.centring import CentringGeometry

    if calibration.geometry is not None:
        return calibration
    return dataclasses.replace(calibration, geometry=CentringGeometry(spindle=spindle))


def _connect(device, timeout_s: float, path) -> None:
    """Connect every PV of ``device`` now, so a wrong prefix is named at load, not mid-plan."""
    try:
        device.wait_for_connection(all_signals=True, timeout=timeout_s)
    except TimeoutError as error:
        raise ConnectionError(f"{path}: {device.name} did not connect within {timeout_s} s: {error}") from None
