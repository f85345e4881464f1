"""``raster_extents``: the face-on and edge-on angles from the projected area, and a raster grid at each.

The sample should be centred first (``auto_centre``). A sweep records the loop's projected area
against omega and fits ``A(omega) = a + b cos(2(omega - omega_face))``; at the face-on angle (largest
area) and the edge-on angle (smallest) a frame is taken and the raster grid covers the loop and crystal
(stem and pin excluded) with margins, in whole beam-size steps, and in motor coordinates within limits.
"""

from __future__ import annotations

from typing import Literal

from dataclasses import dataclass

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np

from mxsight.geometry.centring import CentringGeometry
from mxsight.geometry.projected_area import AreaFit, AreaFitError, FlatAreaError, fit_projected_area
from mxsight.geometry.raster import RasterError, RasterGrid, RasterOutOfLimits, check_within_limits, raster_grid
from mxsight.plans.errors import RasterNotPossible, SampleNotFound
from mxsight.plans.reads import camera_geometry, read_limits, read_positions, read_zoom
from mxsight.plans.records import RecordReadable, alignment_metadata
from mxsight.plans.frame_taker import FrameTaker
from mxsight.vision.segmenter import Segmenter

GRID_MOTORS = ("alignment_y", "centring_x", "centring_y")


@dataclass(frozen=True)
class RasterExtents:
    """The area fit and the grids at the face-on and edge-on angles."""

    area: AreaFit
    face: RasterGrid
    edge: RasterGrid


def _area_fit(features) -> AreaFit:
    seen = [f for f in features if f.present]
    if len(seen) < 4:
        raise SampleNotFound(f"the loop was seen in {len(seen)} of {len(features)} frames, 4 are needed to find its face")
    omega = np.array([f.omega_deg for f in seen])
    area = np.array([f.area_px for f in seen])
    try:
        return fit_projected_area(omega, area)
    except FlatAreaError as flat:
        return flat.fit
    except AreaFitError as error:
        raise RasterNotPossible(str(error)) from error


def _grid_at(taker: FrameTaker, omega_deg: float, name: str, step_um: float, margin_um: float, geometry: CentringGeometry):
    yield from bps.mv(taker.goniometer.omega, omega_deg)
    yield from taker.take()
    masks = taker.callback.predictions[-1].masks
    _, level = yield from read_zoom(taker.zoom)
    current = yield from read_positions(taker.goniometer, GRID_MOTORS)
    try:
        grid = raster_grid(
            masks["loop"] | masks["loop_inside"] | masks["crystal"],
            omega_deg,
            pixel_size_um=level.pixel_size_um,
            beam_position_px=level.beam_position_px,
            step_um=step_um,
            margin_um=margin_um,
            geometry=geometry,
            exclude=masks["stem"] | masks["pin"],
            mask_name=f"loop at the {name} angle",
        )
        limits = {}
        for motor in GRID_MOTORS:
            limits[motor] = yield from read_limits(getattr(taker.goniometer, motor))
        check_within_limits(grid.motor_positions(current), limits)
    except (RasterError, RasterOutOfLimits) as error:
        raise RasterNotPossible(f"{name} grid: {error}") from error
    return grid


def raster_extents(
    camera,
    goniometer,
    zoom,
    *,
    sample_id: str,
    step_um: float = 10.0,
    margin_um: float = 10.0,
    frames: int = 12,
    segmenter: Segmenter | None = None,
    geometry: CentringGeometry | None = None,
    beamline: str | None = None,
    uncalibrated: Literal["refuse", "allow"] = "refuse",
    md: dict | None = None,
):
    """Record the area sweep, the face-on and edge-on frames and both grids (stream ``results``);
    return :class:`RasterExtents`. ``step_um`` is the beam size; omega is left at the face-on angle."""
    if frames < 6:
        raise ValueError(f"the area sweep needs at least 6 frames, got {frames}")
    geometry = camera_geometry(zoom, geometry, uncalibrated)
    segmenter = segmenter or Segmenter.default(background=camera.reference_background(), spindle=geometry.spindle)
    taker = FrameTaker(camera, goniometer, zoom, segmenter, geometry.spindle)
    taker.callback.segmenter = segmenter.for_background(camera.reference_background())
    metadata = {
        **(yield from alignment_metadata("raster_extents", sample_id, zoom, geometry, beamline)),
        "step_um": step_um,
        "margin_um": margin_um,
        "frames": frames,
        **segmenter.describe(),
        **(md or {}),
    }
    template = {"outcome": "", "message": "", **_blank_record()}
    results = RecordReadable("results", template)
    found: list[RasterExtents] = []

    @bpp.subs_decorator(taker.callback)
    @bpp.stage_decorator([camera, taker.recorder])
    @bpp.run_decorator(md=metadata)
    def inner():
        try:
            features = yield from taker.stepped(np.arange(frames) * 360.0 / frames)
            area = _area_fit(features)
            face_deg = area.face_on_deg if area.determined else _largest(features)
            face = yield from _grid_at(taker, face_deg, "face-on", step_um, margin_um, geometry)
            edge = yield from _grid_at(taker, face_deg + 90.0, "edge-on", step_um, margin_um, geometry)
        except (RasterNotPossible, SampleNotFound) as error:
            yield from bps.trigger_and_read([results.update({"outcome": type(error).__name__, "message": str(error)})], name="results")
            raise
        record = {"outcome": "found", **area.as_record("area_"), **face.as_record("face_"), **edge.as_record("edge_")}
        yield from bps.trigger_and_read([results.update(record)], name="results")
        yield from bps.mv(goniometer.omega, face_deg)
        found.append(RasterExtents(area=area, face=face, edge=edge))

    yield from inner()
    return found[0]


def _largest(features) -> float:
    """Omega of the largest measured area: the face-on angle of a loop whose area hardly changes."""
    seen = [f for f in features if f.present]
    return float(max(seen, key=lambda f: f.area_px).omega_deg)


def _blank_record() -> dict[str, object]:
    """The results schema with empty values (NaN, 0, "", False), so a failed run still fits it."""
    fit = AreaFit(
        mean_area_px=np.nan, amplitude_px=np.nan, face_on_deg=np.nan, edge_on_deg=np.nan, face_on_sigma_deg=np.nan,
        residual_rms_px=np.nan, inliers=np.zeros(0, bool), n_points=0, mean_area_sigma_px=np.nan, amplitude_sigma_px=np.nan,
        cos_coefficient_px=np.nan, sin_coefficient_px=np.nan, determined=False, reason="",
    )
    grid = RasterGrid(omega_deg=0.0, step_along_um=1.0, step_across_um=1.0, n_along=1, n_across=1, centre_along_mm=0.0, centre_across_mm=0.0)
    blank = {**fit.as_record("area_"), **grid.as_record("face_"), **grid.as_record("edge_")}
    return {key: (np.nan if isinstance(value, float) else type(value)()) for key, value in blank.items()}
