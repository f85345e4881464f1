"""``record_empty_fields``: the camera's empty field at each zoom level, with the sample moved out.

The empty field (what the camera sees with nothing in the view) is the background the classical
segmenter subtracts and the reference the segmentation self-check compares a segmenter's foreground
with (:mod:`mxsight.vision.self_check`). Lamps, apertures and cameras change, so a beamline records
the fields again when they do. The run is recorded like any other (stream ``primary``: zoom level and
frame, ``frames_per_level`` frames per level), read back with
:func:`mxsight.storage.empty_fields.load_empty_fields` and set on the camera
(``camera.empty_fields``), whose ``reference_background()`` then gives the field for the zoom.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np

from mxsight.plans.errors import MoveOutOfLimits
from mxsight.plans.frame_taker import trigger_and_read_frame
from mxsight.plans.reads import read_limits
from mxsight.storage.empty_fields import PLAN_NAME


def record_empty_fields(
    camera,
    goniometer,
    zoom,
    *,
    move_out_mm: Mapping[str, float],
    levels: Sequence[int] | None = None,
    frames_per_level: int = 3,
    beamline: str | None = None,
    md: dict | None = None,
):
    """Move the sample out of the view by ``move_out_mm`` (goniometer motor name -> relative move,
    e.g. ``{"alignment_y": -4.5}``: along the spindle towards the pin's base by more than the widest
    field of view), take ``frames_per_level`` frames at each zoom level of ``levels`` (default: every
    calibrated level), and put the motors and the zoom back, whatever happens.

    Returns {zoom level: the per-pixel median of its frames} and sets it as ``camera.empty_fields``.
    Raises ``MoveOutOfLimits`` before anything moves when a move would leave a motor's limits.
    """
    if not move_out_mm:
        raise ValueError("record_empty_fields needs move_out_mm: which motors take the sample out of the view, and how far")
    if frames_per_level < 1:
        raise ValueError(f"frames_per_level must be at least 1, got {frames_per_level}")
    calibrated = sorted(zoom.calibration.levels)
    levels = list(levels) if levels is not None else calibrated
    unknown = sorted(set(levels) - set(calibrated))
    if unknown:
        raise ValueError(f"zoom levels {unknown} are not calibrated; calibrated: {calibrated}")
    motors = {name: getattr(goniometer, name) for name in move_out_mm}
    start = {}
    for name, motor in motors.items():
        start[name] = float((yield from bps.rd(motor)))
        low, high = yield from read_limits(motor)
        target = start[name] + float(move_out_mm[name])
        if low < high and not low <= target <= high:
            raise MoveOutOfLimits(f"{motor.name} would move to {target:.4f} to take the sample out, outside its limits [{low}, {high}]")
    start_level = int((yield from bps.rd(zoom.level)))
    metadata = {
        "plan_name": PLAN_NAME,
        **({"beamline": beamline} if beamline is not None else {}),
        "levels": [int(level) for level in levels],
        "frames_per_level": frames_per_level,
        "move_out_mm": {name: float(value) for name, value in move_out_mm.items()},
        **(md or {}),
    }
    frames: dict[int, list[np.ndarray]] = {int(level): [] for level in levels}

    @bpp.stage_decorator([camera])
    @bpp.run_decorator(md=metadata)
    def inner():
        yield from bps.mv(*[arg for name, motor in motors.items() for arg in (motor, start[name] + float(move_out_mm[name]))])
        for level in levels:
            yield from bps.mv(zoom, int(level))
            for _ in range(frames_per_level):
                yield from trigger_and_read_frame([camera, zoom])
                frames[int(level)].append(np.array(camera.last_frame, copy=True))

    def put_back():
        yield from bps.mv(*[arg for name, motor in motors.items() for arg in (motor, start[name])], zoom, start_level)

    yield from bpp.finalize_wrapper(inner(), put_back())
    fields = {level: np.median(np.stack(taken), axis=0).astype(np.uint8) for level, taken in frames.items()}
    camera.empty_fields = fields
    return fields
