"""``calibrate_camera``: measure how the on-axis camera sees the goniometer, at each zoom level.

With a sample (any pin) in view, the plan steps alignment y and both centring motors by known amounts,
measures each image shift by phase correlation (:mod:`mxsight.vision.image_shift`) and derives the
micrometres per pixel, the image axis the spindle runs along and the signs of both image axes
(:mod:`mxsight.geometry.camera_calibration`); half a turn of omega with the sample off the axis gives
the rotation axis's place in the image. Every frame and each level's result are recorded (streams
``primary`` and ``calibration``); the plan returns the new calibration, which
:func:`save_camera_calibration` writes over the beamline's zoom calibration file. Motors and zoom are
put back where they were.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp

from mxsight.callbacks.frames import FrameCallback
from mxsight.devices.zoom import ZoomCalibration
from mxsight.geometry.camera_calibration import (
    CalibrationFailed,
    CalibrationTolerances,
    LevelShifts,
    common_geometry,
    level_calibration,
)
from mxsight.plans.frame_taker import trigger_and_read_frame
from mxsight.plans.reads import read_positions
from mxsight.plans.records import RecordReadable
from mxsight.vision.image_shift import mirror_axis_px, step_displacement

RESULT_TEMPLATE: dict[str, object] = {
    "level": 0,
    "pixel_size_um": float("nan"),
    "pixel_size_along_um": float("nan"),
    "pixel_size_across_um": float("nan"),
    "spindle": "",
    "perpendicular_sign": float("nan"),
    "along_sign": float("nan"),
    "rotation_axis_px": float("nan"),
    "omega_angle_error_deg": float("nan"),
    "outcome": "",
}


def calibrate_camera(
    camera,
    goniometer,
    zoom,
    *,
    levels: Sequence[int] | None = None,
    omega_deg: float = 45.0,
    step_fraction: float = 0.08,
    tolerances: CalibrationTolerances = CalibrationTolerances(),
    beamline: str | None = None,
    md: dict | None = None,
):
    """Calibrate the camera at ``levels`` (default: every level the zoom knows); returns the new
    :class:`ZoomCalibration`. Each step is ``step_fraction`` of the field of view (by the level's
    current calibration; two steps per motor); ``omega_deg`` is where the centring motors are stepped
    (at 45 degrees both move the image, so the sense of omega is checked). Levels not measured keep
    their values. Raises :class:`CalibrationFailed` when the shifts do not fit the movement model."""
    calibration: ZoomCalibration = zoom.calibration
    levels = sorted(int(level) for level in (levels or calibration.levels))
    for level in levels:
        calibration[level]  # a named error for an unknown level, before anything moves
    calibration_id = str(uuid.uuid4())  # in the run's start document: find the run from the file
    frames = FrameCallback(image_key=camera.image_key)
    record = RecordReadable("calibration", RESULT_TEMPLATE)
    motors = ("omega", "alignment_y", "centring_x", "centring_y")
    metadata = {
        "plan_name": "calibrate_camera",
        **({"beamline": beamline} if beamline is not None else {}),
        "levels": levels,
        "omega_deg": omega_deg,
        "step_fraction": step_fraction,
        "calibration_id": calibration_id,
        "calibration_before": calibration.calibrated,
        **(md or {}),
    }
    measured: dict[int, tuple] = {}

    def take():
        yield from trigger_and_read_frame([camera, goniometer, zoom])
        return frames.images.pop()

    def stepped(motor_name: str, start: float, step_mm: float):
        images = []
        for k in range(3):
            yield from bps.mv(getattr(goniometer, motor_name), start + k * step_mm)
            images.append((yield from take()))
        yield from bps.mv(getattr(goniometer, motor_name), start)
        shift = step_displacement(images)
        return (shift.rows_px, shift.cols_px)

    start: dict[str, float] = {}

    def put_back():
        if start:
            yield from bps.mv(*[arg for name in motors for arg in (getattr(goniometer, name), start[name])])
            yield from bps.mv(zoom, start["level"])

    def measure():
        start.update((yield from read_positions(goniometer, motors)))
        start["level"] = int((yield from bps.rd(zoom.level)))
        for level in levels:
            yield from bps.mv(zoom, level)
            step_mm = step_fraction * max(camera.frame_shape) * calibration[level].pixel_size_um / 1000.0
            yield from bps.mv(goniometer.omega, omega_deg)
            shifts = LevelShifts(
                level=level,
                omega_deg=omega_deg,
                along_step_mm=step_mm,
                along_shift_px=(yield from stepped("alignment_y", start["alignment_y"], step_mm)),
                centring_step_mm=step_mm,
                centring_x_shift_px=(yield from stepped("centring_x", start["centring_x"], step_mm)),
                centring_y_shift_px=(yield from stepped("centring_y", start["centring_y"], step_mm)),
            )
            try:
                result = level_calibration(shifts, tolerances)
                # off the axis by one step, then half a turn: the difference is odd about the axis
                yield from bps.mv(goniometer.centring_x, start["centring_x"] + step_mm)
                first = yield from take()
                yield from bps.mv(goniometer.omega, omega_deg + 180.0)
                second = yield from take()
                yield from bps.mv(goniometer.centring_x, start["centring_x"], goniometer.omega, omega_deg)
                axis_px, along_px = mirror_axis_px(first, second, 0 if result.geometry.spindle == "horizontal" else 1)
                if abs(along_px) > tolerances.max_along_shift_on_rotation_px:
                    raise CalibrationFailed(
                        f"zoom level {level}: half a turn of omega moved the sample {along_px:.1f} px along the spindle "
                        f"(at most {tolerances.max_along_shift_on_rotation_px} px): the rotation axis is not along an image axis"
                    )
            except CalibrationFailed as error:
                yield from bps.trigger_and_read([record.update({"level": level, "outcome": str(error)})], name="calibration")
                raise
            measured[level] = (result, axis_px)
            values = {key: getattr(result, key) for key in ("level", "pixel_size_um", "pixel_size_along_um", "pixel_size_across_um", "omega_angle_error_deg")}
            values.update(
                spindle=result.geometry.spindle,
                perpendicular_sign=result.geometry.perpendicular_sign,
                along_sign=result.geometry.along_sign,
                rotation_axis_px=axis_px,
                outcome="measured",
            )
            yield from bps.trigger_and_read([record.update(values)], name="calibration")

    @bpp.subs_decorator(frames)
    @bpp.stage_decorator([camera])
    @bpp.run_decorator(md=metadata)
    def inner():
        yield from bpp.finalize_wrapper(measure(), put_back())

    yield from inner()
    geometry = common_geometry([result for result, _ in measured.values()])
    new_levels = dict(calibration.levels)
    for level, (result, axis_px) in measured.items():
        new_levels[level] = dataclasses.replace(calibration[level], pixel_size_um=result.pixel_size_um, rotation_axis_px=axis_px)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    provenance = f"calibrate_camera {calibration_id} at {stamp}, levels {', '.join(map(str, levels))}"
    return ZoomCalibration(new_levels, geometry=geometry, calibrated=provenance)


def save_camera_calibration(calibration: ZoomCalibration, path: Path | str, zoom=None) -> Path:
    """Write ``calibration`` over the zoom calibration file at ``path`` (the beamline file's
    ``zoom_calibration``), keeping the previous file beside it as ``<name>.previous``; when ``zoom`` is
    given, it uses the new calibration from now on."""
    path = Path(path)
    if zoom is not None:
        zoom.use_calibration(calibration)
    if path.exists():
        path.replace(path.with_name(path.name + ".previous"))
    path.write_text(calibration.to_toml(header="Written by mxsight calibrate_camera; the previous file is kept as .previous"))
    return path


__all__ = ["CalibrationFailed", "calibrate_camera", "save_camera_calibration"]
