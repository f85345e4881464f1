"""The beamline file's schema: every table and key a beamline file may hold, with types and ranges.

One schema serves every reader of the file: :func:`mxsight.beamline.load_beamline` (the devices),
``IocSettings.from_table`` (``mxsight ioc``) and ``ConfidenceLimits.from_table`` (``[alignment]``). A
file is checked whole when it is read, before any device is built or connected, and a wrong one is a
single ValueError line naming the file, the table and the key (:mod:`mxsight.file_schema`), e.g.
``beamline.toml: [epics] frame_timeout_s must be greater than 0, got -1``. The format itself is
documented at the top of :mod:`mxsight.beamline`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, Strict, ValidationInfo

from mxsight.devices.zoom_file import validate_zoom_table
from mxsight.file_schema import NonEmptyString, PositiveFloat, StrictBool, StrictInt, Table, validated
from mxsight.geometry.circle import MIN_POINTS
from mxsight.sim.backgrounds import BACKGROUND_SETS
from mxsight.sim.camera_mount import MOUNTS
from mxsight.toml_files import read_toml

Spindle = Literal["horizontal", "vertical"]
MountName = Literal[tuple(sorted(MOUNTS))]  # type: ignore[valid-type]  (the simulator's camera mounts)
BackgroundSet = Literal[BACKGROUND_SETS]  # type: ignore[valid-type]
Fraction = Annotated[float, Strict(), Field(ge=0, le=1)]
PixelCount = Annotated[StrictInt, Field(ge=16)]  # a frame side: anything smaller is no camera's


def _zoom_calibration_file(value: str, info: ValidationInfo) -> str:
    """A zoom calibration file, relative to the beamline file's folder (the context's ``base``), that
    exists and holds a valid calibration; unchecked when the folder is unknown."""
    base = (info.context or {}).get("base")
    if base is None:
        return value
    path = Path(base) / value
    if not path.is_file():
        raise ValueError(f"must name an existing file, got {value!r} ({path.resolve()} does not exist)")
    try:
        validate_zoom_table(read_toml(path, "zoom calibration"), str(path))
    except ValueError as error:
        raise ValueError(f"names a bad zoom calibration: {error}") from None
    return value


ZoomCalibrationFile = Annotated[NonEmptyString, AfterValidator(_zoom_calibration_file)]


class BeamlineTable(Table):
    """``[beamline]``: which devices, and the beamline's name in every run's start document."""

    kind: Literal["simulated", "epics"] = "simulated"
    name: NonEmptyString | None = None  # None: the kind
    spindle: Spindle = "horizontal"


class SimulatedTable(Table):
    """``[simulated]``: the simulated beamline (kind = "simulated"), or what ``mxsight ioc`` serves.
    Unset speeds and frame rate keep the simulator's defaults (RealisticMotion, IocSettings)."""

    seed: Annotated[StrictInt, Field(ge=0)] = 0  # numpy's generators take no negative seed
    zoom: Annotated[StrictInt, Field(ge=0)] = 5  # a level of the zoom calibration
    realistic_motion: StrictBool = False
    background_set: BackgroundSet | None = None  # None: chosen by the seed
    empty_pins: tuple[NonEmptyString, ...] = ()
    camera_mount: MountName | None = None  # None: by spindle
    zoom_calibration: ZoomCalibrationFile | None = None  # None: the simulator's own, calibrated
    frame_rate_hz: Annotated[float, Strict(), Field(gt=0, le=1000)] | None = None  # a camera's, not a benchmark's
    omega_speed_deg_s: PositiveFloat | None = None  # speeds apply with realistic_motion; 0 would never arrive
    translation_speed_mm_s: PositiveFloat | None = None
    zoom_speed_levels_s: PositiveFloat | None = None


class EpicsTable(Table):
    """``[epics]``: the PVs, as ``mxsight ioc`` serves them (it needs no zoom calibration)."""

    goniometer_prefix: NonEmptyString
    camera_prefix: NonEmptyString
    zoom_pv: NonEmptyString
    zoom_calibration: ZoomCalibrationFile | None = None
    kappa: StrictBool = False
    frame_shape: Annotated[list[PixelCount], Field(min_length=2, max_length=2), AfterValidator(tuple)] = (1024, 1360)
    frame_timeout_s: PositiveFloat = 2.0
    connection_timeout_s: PositiveFloat = 5.0
    control_prefix: NonEmptyString | None = None  # None: camera_prefix + "SIM:"
    hdf5_plugin: NonEmptyString | None = None  # the camera's NDFileHDF5 plugin ("HDF1:"); None: image1: is read
    ioc_write_directory: NonEmptyString | None = None  # the data folder as the camera IOC's host sees it


class EpicsDevicesTable(EpicsTable):
    """``[epics]`` of a kind = "epics" beamline: its devices need the zoom calibration too."""

    zoom_calibration: ZoomCalibrationFile


class AlignmentTable(Table):
    """``[alignment]``: ConfidenceLimits' fields (lengths in micrometres at the sample); unset ones
    keep their defaults."""

    min_frames: Annotated[StrictInt, Field(ge=MIN_POINTS)] | None = None  # fewer fit no circle
    min_inlier_fraction: Fraction | None = None
    max_residual_rms_um: PositiveFloat | None = None
    max_iced_loop_residual_rms_um: PositiveFloat | None = None
    max_move_sigma_um: PositiveFloat | None = None
    max_crystal_move_sigma_um: PositiveFloat | None = None
    max_off_screen_fraction: Fraction | None = None
    min_crystal_fraction: Fraction | None = None
    max_loop_edge_on_ice: Fraction | None = None
    max_loop_edge_along_ice_edge: Fraction | None = None
    max_along_deviation_um: PositiveFloat | None = None
    min_along_agreement: Fraction | None = None
    max_untrusted_fraction: Fraction | None = None

    def limits(self) -> dict[str, float | int]:
        """The limits the file sets (for ``dataclasses.replace`` on ConfidenceLimits)."""
        return self.model_dump(exclude_none=True)


class BeamlineFile(Table):
    """A whole beamline file; the tables not given take their defaults."""

    beamline: BeamlineTable = BeamlineTable()
    simulated: SimulatedTable = SimulatedTable()
    epics: EpicsTable | None = None
    alignment: AlignmentTable = AlignmentTable()

    @property
    def name(self) -> str:
        return self.beamline.name or self.beamline.kind


class EpicsBeamlineFile(BeamlineFile):
    """A kind = "epics" beamline file: ``[epics]`` is required, with its zoom calibration."""

    epics: EpicsDevicesTable


def validate_beamline_table(table: dict, source: str = "beamline config", base: Path | str | None = None, *, serving: bool = False) -> BeamlineFile:
    """``table`` (a parsed beamline file) checked whole; a one-line ValueError naming ``source`` if not.

    ``base``: the file's folder, which relative file names (zoom_calibration) are read from; None:
    they are not looked at. ``serving``: what ``mxsight ioc`` needs ([epics]'s PV names, whatever the
    kind), else what the kind's devices need."""
    kind = table.get("beamline", {}).get("kind") if isinstance(table.get("beamline"), dict) else None
    schema = EpicsBeamlineFile if kind == "epics" and not serving else BeamlineFile
    if serving or schema is EpicsBeamlineFile:
        table = {**table, "epics": table.get("epics", {})}  # a missing table: its missing keys named
    context = {"base": Path(base)} if base is not None else None
    return validated(schema, table, source, context=context)


def read_beamline_file(path: Path | str) -> BeamlineFile:
    """The beamline file at ``path`` checked whole (its zoom calibration file too), without building
    or connecting any device."""
    return validate_beamline_table(read_toml(path, "beamline file"), str(path), Path(path).parent)
