"""Which beamline a session drives, from a small TOML file: the simulated one (default) or EPICS devices.

    [beamline]
    kind = "simulated"          # or "epics"
    name = "sim-px"             # recorded as the runs' ``beamline``
    spindle = "horizontal"      # or "vertical" (simulated: the camera turned; EPICS: until calibrate_camera measures it)

    [simulated]                 # kind = "simulated"
    seed = 0                    # the random sample (SimBeamline.sample)
    zoom = 5
    realistic_motion = false    # true: omega 180 deg/s, translations 1 mm/s, zoom 5 levels/s, camera 30 fps
    empty_pins = []             # sample ids the simulated sample changer finds empty
    camera_mount = "mirrored"   # the simulated camera turned or mirrored (mxsight.sim.camera_mount.MOUNTS)
    zoom_calibration = "zoom.toml"   # what plans believe (default: the simulator's own, calibrated)

    [epics]                     # kind = "epics" (Channel Access through pyepics or caproto)
    goniometer_prefix = "BL:GONIO:"  # motor records Omega, CentringX, CentringY, AlignmentY, AlignmentZ
    kappa = false               # true: KappaGoniometer (Kappa, Phi motors)
    camera_prefix = "BL:OAV:"   # areaDetector cam1: and image1: (RGB1)
    hdf5_plugin = "HDF1:"       # optional: the camera's NDFileHDF5 plugin writes the frames (else image1: is read)
    ioc_write_directory = "/data/oav"  # optional: the data folder as the camera IOC's host sees it
    frame_shape = [1024, 1360]
    zoom_pv = "BL:OAV:Zoom"     # motor record whose position is the zoom level
    zoom_calibration = "zoom.toml"   # relative to this file: micrometres per pixel, beam, per level,
                                     # the camera's orientation ([camera], written by calibrate_camera)
    frame_timeout_s = 2.0       # no frame exposed after a trigger within this: CameraTimeout
    connection_timeout_s = 5.0  # every PV connects within this when the beamline is loaded

    [alignment]                 # confidence limits in micrometres (ConfidenceLimits; docs/alignment.md)
    max_residual_rms_um = 1.75

``mxsight ioc --beamline FILE`` serves the simulated beamline on the PVs such a file names.

The IPython profile and the queue server read it (``MXSIGHT_BEAMLINE``), so both drive the same devices.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from mxsight.plans.centring_solution import ConfidenceLimits
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
    """The beamline a TOML file (or the same table as a dict) describes; None: the simulated one."""
    if isinstance(path, dict):
        table, path = path, None
    else:
        table = read_toml(path, "beamline config") if path is not None else {}
    base = Path(path).parent if path is not None else Path.cwd()
    section = table.get("beamline", {})
    kind = section.get("kind", "simulated")
    spindle = section.get("spindle", "horizontal")
    if spindle not in ("horizontal", "vertical"):
        raise ValueError(f"{path}: [beamline] spindle must be 'horizontal' or 'vertical', got {spindle!r}")
    name = section.get("name", kind)
    limits = ConfidenceLimits.from_table(table.get("alignment", {}), source=f"{path or 'beamline config'}: [alignment]")
    if kind == "simulated":
        beamline = _simulated(table.get("simulated", {}), name, spindle, base, write_directory)
    elif kind == "epics":
        beamline = _epics(table.get("epics", {}), name, spindle, base, write_directory, path)
    else:
        raise ValueError(f"{path}: [beamline] kind must be 'simulated' or 'epics', got {kind!r}")
    return dataclasses.replace(beamline, sweeps=with_limits(limits))


def _simulated(options: dict, name: str, spindle: str, base: Path, write_directory) -> Beamline:
    from mxsight.devices.sim import make_sim_beamline
    from mxsight.devices.sim_detector import SimDiffractionDetector
    from mxsight.devices.sim_sample_changer import SimSampleChanger
    from mxsight.devices.zoom import ZoomCalibration

    unknown = set(options) - {"seed", "zoom", "realistic_motion", "background_set", "empty_pins", "camera_mount", "zoom_calibration"}
    if unknown:
        raise ValueError(f"[simulated] has unknown keys {sorted(unknown)}")
    calibration = _with_spindle(ZoomCalibration.from_file(base / options["zoom_calibration"]), spindle) if "zoom_calibration" in options else None
    simulation = make_sim_beamline(
        seed=int(options.get("seed", 0)),
        zoom_level=int(options.get("zoom", 5)),
        write_directory=write_directory,
        realistic_motion=bool(options.get("realistic_motion", False)),
        background_set=options.get("background_set"),
        spindle=spindle,
        mount=options.get("camera_mount"),
        calibration=calibration,
    )
    detector = SimDiffractionDetector(name="detector", camera=simulation.camera)
    changer = SimSampleChanger(name="sample_changer", beamline=simulation, empty_pins=options.get("empty_pins", ()))
    calibration_file = base / options["zoom_calibration"] if "zoom_calibration" in options else None
    return Beamline(name, simulation.camera.spindle, simulation.camera, simulation.goniometer, simulation.zoom, detector, simulation, changer, calibration_file)


def _epics(options: dict, name: str, spindle: str, base: Path, write_directory, path) -> Beamline:
    from mxsight.devices.epics_camera import EpicsOnAxisCamera
    from mxsight.devices.goniometer import Goniometer, KappaGoniometer
    from mxsight.devices.zoom import EpicsZoom, ZoomCalibration

    missing = [key for key in ("goniometer_prefix", "camera_prefix", "zoom_pv", "zoom_calibration") if key not in options]
    if missing:
        raise ValueError(f"{path}: [epics] needs {', '.join(missing)}")
    try:
        goniometer_class = KappaGoniometer if options.get("kappa", False) else Goniometer
        goniometer = goniometer_class(options["goniometer_prefix"], name="gonio")
    except NotImplementedError as error:
        raise RuntimeError(f"EPICS devices need a control layer: pip install pyepics (or caproto) ({error})") from error
    calibration = _with_spindle(ZoomCalibration.from_file(base / options["zoom_calibration"]), spindle)
    zoom = EpicsZoom(options["zoom_pv"], name="zoom", calibration=calibration)
    camera_options = dict(
        name="oav", frame_shape=tuple(options.get("frame_shape", (1024, 1360))),
        write_directory=write_directory, omega_source=goniometer.omega, zoom_source=zoom,
        new_frame_timeout_s=float(options.get("frame_timeout_s", 2.0)),
    )
    if "hdf5_plugin" in options:
        from mxsight.devices.epics_hdf5_camera import EpicsHdf5OnAxisCamera

        camera = EpicsHdf5OnAxisCamera(
            options["camera_prefix"], hdf5_plugin=str(options["hdf5_plugin"]), ioc_write_directory=options.get("ioc_write_directory"), **camera_options
        )
    else:
        camera = EpicsOnAxisCamera(options["camera_prefix"], **camera_options)
    timeout_s = float(options.get("connection_timeout_s", 5.0))
    for device in (goniometer, zoom, camera):
        _connect(device, timeout_s, path)
    return Beamline(name, calibration.geometry.spindle, camera, goniometer, zoom, calibration_file=base / options["zoom_calibration"])


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
