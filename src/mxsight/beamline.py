"""Which beamline a session drives, from a small TOML file: the simulated one (default) or EPICS devices.

    [beamline]
    kind = "simulated"          # or "epics"
    name = "sim-px"             # recorded as the runs' ``beamline``
    spindle = "horizontal"      # or "vertical"

    [simulated]                 # kind = "simulated"
    seed = 0                    # the random sample (SimBeamline.sample)
    zoom = 5
    realistic_motion = false    # true: omega 90 deg/s, translations 1 mm/s
    empty_pins = []             # sample ids the simulated sample changer finds empty

    [epics]                     # kind = "epics" (Channel Access through pyepics or caproto)
    goniometer_prefix = "BL:GONIO:"  # motor records Omega, CentringX, CentringY, AlignmentY, AlignmentZ
    kappa = false               # true: KappaGoniometer (Kappa, Phi motors)
    camera_prefix = "BL:OAV:"   # areaDetector cam1: and image1: (RGB1)
    frame_shape = [1024, 1360]
    zoom_pv = "BL:OAV:Zoom"     # motor record whose position is the zoom level
    zoom_calibration = "zoom.toml"   # relative to this file: micrometres per pixel, beam, per level
    frame_timeout_s = 2.0       # no frame exposed after a trigger within this: CameraTimeout
    connection_timeout_s = 5.0  # every PV connects within this when the beamline is loaded

``mxsight ioc --beamline FILE`` serves the simulated beamline on the PVs such a file names.

The IPython profile and the queue server read it (``MXSIGHT_BEAMLINE``), so both drive the same devices.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
    if kind == "simulated":
        return _simulated(table.get("simulated", {}), name, spindle, write_directory)
    if kind == "epics":
        return _epics(table.get("epics", {}), name, spindle, base, write_directory, path)
    raise ValueError(f"{path}: [beamline] kind must be 'simulated' or 'epics', got {kind!r}")


def _simulated(options: dict, name: str, spindle: str, write_directory) -> Beamline:
    from mxsight.devices.sim import make_sim_beamline
    from mxsight.devices.sim_detector import SimDiffractionDetector
    from mxsight.devices.sim_sample_changer import SimSampleChanger

    unknown = set(options) - {"seed", "zoom", "realistic_motion", "background_set", "empty_pins"}
    if unknown:
        raise ValueError(f"[simulated] has unknown keys {sorted(unknown)}")
    simulation = make_sim_beamline(
        seed=int(options.get("seed", 0)),
        zoom_level=int(options.get("zoom", 5)),
        write_directory=write_directory,
        realistic_motion=bool(options.get("realistic_motion", False)),
        background_set=options.get("background_set"),
        spindle=spindle,
    )
    detector = SimDiffractionDetector(name="detector", camera=simulation.camera)
    changer = SimSampleChanger(name="sample_changer", beamline=simulation, empty_pins=options.get("empty_pins", ()))
    return Beamline(name, spindle, simulation.camera, simulation.goniometer, simulation.zoom, detector, simulation, changer)


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
    calibration = ZoomCalibration.from_file(base / options["zoom_calibration"])
    zoom = EpicsZoom(options["zoom_pv"], name="zoom", calibration=calibration)
    camera = EpicsOnAxisCamera(
        options["camera_prefix"], name="oav", frame_shape=tuple(options.get("frame_shape", (1024, 1360))),
        write_directory=write_directory, omega_source=goniometer.omega, zoom_source=zoom,
        new_frame_timeout_s=float(options.get("frame_timeout_s", 2.0)),
    )
    timeout_s = float(options.get("connection_timeout_s", 5.0))
    for device in (goniometer, zoom, camera):
        _connect(device, timeout_s, path)
    return Beamline(name, spindle, camera, goniometer, zoom)


def _connect(device, timeout_s: float, path) -> None:
    """Connect every PV of ``device`` now, so a wrong prefix is named at load, not mid-plan."""
    try:
        device.wait_for_connection(all_signals=True, timeout=timeout_s)
    except TimeoutError as error:
        raise ConnectionError(f"{path}: {device.name} did not connect within {timeout_s} s: {error}") from None
