"""``multi_orientation_collection``: for each kappa/phi orientation, reorient, re-centre, find the raster
extents and collect data, each step a recorded run linked to the others by ``collection_group``.

A beamline collects several orientations of one crystal to fill reciprocal space or to separate
symmetry-related reflections. Every reorientation moves the crystal off the axis, so each orientation
is centred again from scratch; a failure at one orientation is recorded and the next one goes on.
"""

from __future__ import annotations

from typing import Literal

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp

from mxsight.geometry.centring import CentringGeometry
from mxsight.plans.auto_centre import AlignmentOutcome, auto_centre
from mxsight.plans.errors import AlignmentError
from mxsight.plans.raster_extents import RasterExtents, raster_extents
from mxsight.plans.reads import camera_geometry
from mxsight.plans.sweeps import COARSE_IF_NEEDED_THEN_FINE, Sweep
from mxsight.plans.records import alignment_metadata
from mxsight.toml_files import read_toml
from mxsight.vision.segmenter import Segmenter


@dataclass(frozen=True)
class Orientation:
    """A goniometer orientation in degrees."""

    kappa_deg: float
    phi_deg: float

    def __post_init__(self) -> None:
        for name in ("kappa_deg", "phi_deg"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value != value:
                raise ValueError(f"orientation {name} must be a number, got {value!r}")


def load_orientations(path) -> list[Orientation]:
    """Orientations from a TOML file of ``[[orientation]]`` tables with ``kappa_deg`` and ``phi_deg``."""
    table = read_toml(path, "orientations file")
    entries = table.get("orientation", [])
    if not entries:
        raise ValueError(f"{path}: no [[orientation]] tables with kappa_deg and phi_deg")
    try:
        return [Orientation(float(entry["kappa_deg"]), float(entry["phi_deg"])) for entry in entries]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: every [[orientation]] needs numeric kappa_deg and phi_deg ({error})") from error


@dataclass
class OrientationResult:
    orientation: Orientation
    centring: AlignmentOutcome | None = None
    extents: RasterExtents | None = None
    mean_signal: float = float("nan")
    failure: str = ""


@dataclass
class CollectionOutcome:
    group: str
    results: list[OrientationResult] = field(default_factory=list)

    @property
    def failures(self) -> list[OrientationResult]:
        return [r for r in self.results if r.failure]

    def summary(self) -> dict[str, object]:
        """Plain values (a queue server's report): the group and each orientation's signal or failure."""
        return {
            "collection_group": self.group,
            "orientations": [
                {"kappa_deg": r.orientation.kappa_deg, "phi_deg": r.orientation.phi_deg, "mean_signal": r.mean_signal, "failure": r.failure}
                for r in self.results
            ],
        }


def collect(detector, goniometer, zoom, *, sample_id: str, start_deg: float, range_deg: float, images: int, geometry: CentringGeometry = CentringGeometry(), beamline: str | None = None, md: dict | None = None):
    """A rotation data collection: ``images`` exposures over ``range_deg`` from ``start_deg``, each
    recorded with the detector's signal and the goniometer's positions. Returns the mean signal."""
    if images < 1 or range_deg <= 0:
        raise ValueError(f"a collection needs images >= 1 and range_deg > 0, got {images} and {range_deg}")
    metadata = {
        **(yield from alignment_metadata("collect", sample_id, zoom, geometry, beamline)),
        "start_deg": start_deg,
        "range_deg": range_deg,
        "images": images,
        **(md or {}),
    }
    signals: list[float] = []

    @bpp.run_decorator(md=metadata)
    def inner():
        for index in range(images):
            yield from bps.mv(goniometer.omega, start_deg + range_deg * (index + 0.5) / images)
            reading = yield from bps.trigger_and_read([detector, goniometer])
            signals.append(float(reading[detector.signal.name]["value"]))

    yield from inner()
    return sum(signals) / len(signals)


def multi_orientation_collection(
    camera,
    goniometer,
    zoom,
    detector,
    *,
    sample_id: str,
    orientations: Sequence[Orientation],
    range_deg: float = 30.0,
    images: int = 6,
    step_um: float = 10.0,
    segmenter: Segmenter | None = None,
    geometry: CentringGeometry | None = None,
    sweeps: Sequence[Sweep] | None = None,
    sample_changer=None,
    beamline: str | None = None,
    uncalibrated: Literal["refuse", "allow"] = "refuse",
    md: dict | None = None,
):
    """Mount ``sample_id`` when a ``sample_changer`` is given, then reorient (kappa, phi),
    ``auto_centre``, ``raster_extents`` and ``collect`` (starting at the face-on angle) for each
    orientation (``geometry`` None: the camera's calibrated orientation, see ``auto_centre``; ``sweeps``
    None: auto_centre's default). All runs share ``collection_group`` and carry ``orientation_index``, ``kappa_deg`` and
    ``phi_deg`` in their start documents. A failed orientation is recorded and the next one goes on;
    when none succeeds, the first failure is raised (a queue then marks the item failed, with it)."""
    geometry = camera_geometry(zoom, geometry, uncalibrated)
    orientations = [o if isinstance(o, Orientation) else Orientation(**o) for o in orientations]
    if not orientations:
        raise ValueError("multi_orientation_collection needs at least one orientation")
    for name in ("kappa", "phi"):
        if not hasattr(goniometer, name):
            raise ValueError(f"goniometer {goniometer.name!r} has no {name} axis: a kappa goniometer is needed")
    segmenter = segmenter or Segmenter.default(background=camera.reference_background(), spindle=geometry.spindle)
    outcome = CollectionOutcome(group=str(uuid.uuid4()))
    if sample_changer is not None:
        yield from bps.mv(sample_changer, sample_id)
    errors: list[AlignmentError] = []
    for index, orientation in enumerate(orientations):
        linked = {
            "collection_group": outcome.group,
            "orientation_index": index,
            "orientations": len(orientations),
            "kappa_deg": orientation.kappa_deg,
            "phi_deg": orientation.phi_deg,
            **(md or {}),
        }
        result = OrientationResult(orientation)
        outcome.results.append(result)
        yield from bps.mv(goniometer.kappa, orientation.kappa_deg, goniometer.phi, orientation.phi_deg)
        try:
            result.centring = yield from auto_centre(camera, goniometer, zoom, sample_id=sample_id, sweeps=sweeps or COARSE_IF_NEEDED_THEN_FINE, segmenter=segmenter, geometry=geometry, beamline=beamline, uncalibrated=uncalibrated, md=linked)
            result.extents = yield from raster_extents(camera, goniometer, zoom, sample_id=sample_id, step_um=step_um, segmenter=segmenter, geometry=geometry, beamline=beamline, uncalibrated=uncalibrated, md=linked)
            result.mean_signal = yield from collect(
                detector, goniometer, zoom, sample_id=sample_id, start_deg=result.extents.area.face_on_deg if result.extents.area.determined else 0.0,
                range_deg=range_deg, images=images, geometry=geometry, beamline=beamline, md=linked,
            )
        except AlignmentError as error:
            result.failure = str(error)
            errors.append(error)
    if len(errors) == len(orientations):
        first = errors[0]
        raise type(first)(f"{sample_id}: no orientation succeeded; the first failed with {first.args[0]}")
    return outcome
