"""``auto_centre``: step omega, segment each frame, fit, and move the sample onto the axis and beam."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp

from mxsight.callbacks.segmentation import SegmentationCallback
from mxsight.devices.prediction_recorder import PredictionRecorder
from mxsight.geometry.centring import CentringGeometry
from mxsight.plans.centring_solution import RESULT_TEMPLATE, CentringSolution, ConfidenceLimits, solve_centring
from mxsight.plans.errors import AlignmentError, MoveOutOfLimits
from mxsight.plans.records import RecordReadable
from mxsight.vision.segmenter import Segmenter

DEFAULT_OMEGAS_DEG: tuple[float, ...] = (0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0, 315.0)
MOVED_MOTORS = ("centring_x", "centring_y", "alignment_y")


@dataclass
class AlignmentOutcome:
    """What ``auto_centre`` returns: each pass's solution, and the total move applied (mm)."""

    solutions: list[CentringSolution] = field(default_factory=list)
    total_move_mm: dict[str, float] = field(default_factory=dict)
    frames: int = 0


def _check_limits(goniometer, targets: dict[str, float]) -> None:
    for motor_name, target in targets.items():
        motor = getattr(goniometer, motor_name)
        low, high = motor.limits
        if low < high and not low <= target <= high:
            raise MoveOutOfLimits(f"{motor.name} would move to {target:.4f}, outside its limits [{low}, {high}]")


def _result_values(pass_index: int, outcome: str, message: str, solution: CentringSolution | None) -> dict:
    values: dict[str, object] = {"pass": pass_index, "outcome": outcome, "message": message}
    if solution is not None:
        values.update(solution.as_record())
    return values


def auto_centre(
    camera,
    goniometer,
    zoom,
    *,
    sample_id: str,
    omegas: Sequence[float] = DEFAULT_OMEGAS_DEG,
    passes: int = 2,
    segmenter: Segmenter | None = None,
    geometry: CentringGeometry = CentringGeometry(),
    limits: ConfidenceLimits = ConfidenceLimits(),
    beamline: str = "simulated",
    md: dict | None = None,
):
    """Centre the loop on the rotation axis and the beam.

    Each pass steps omega through ``omegas``, records every frame (stream ``primary``) and its
    prediction (stream ``predictions``), fits the circle model and, only when the fit is confident and
    the move within limits, moves centring x/y and alignment y. Every pass's fit and move, or the named
    failure, is recorded in stream ``results``. Failures raise an :class:`AlignmentError` subclass.
    """
    if passes < 1:
        raise ValueError(f"passes must be at least 1, got {passes}")
    if len(omegas) < limits.min_frames:
        raise ValueError(f"{len(omegas)} omega angles given, at least {limits.min_frames} are needed")
    segmenter = segmenter or Segmenter.default(background=camera.reference_background(), spindle=geometry.spindle)
    recorder = PredictionRecorder(name="predictions", frame_shape=camera.frame_shape, write_directory=camera.write_directory)
    callback = SegmentationCallback(
        segmenter, image_key=camera.image_key, omega_key=goniometer.omega.name, spindle=geometry.spindle
    )
    level = zoom.current
    metadata = {
        "plan_name": "auto_centre",
        "sample_id": sample_id,
        "beamline": beamline,
        "zoom": int(zoom.level.get()),
        "pixel_size_um": level.pixel_size_um,
        "beam_position_px": list(level.beam_position_px),
        "spindle": geometry.spindle,
        "omegas_deg": [float(o) for o in omegas],
        "passes": passes,
        **segmenter.describe(),
        **(md or {}),
    }
    outcome = AlignmentOutcome(total_move_mm={name: 0.0 for name in MOVED_MOTORS})
    results = RecordReadable("results", {"pass": 0, "outcome": "", "message": "", **RESULT_TEMPLATE})

    def sweep():
        first = len(callback.frames)
        for omega in omegas:
            yield from bps.mv(goniometer.omega, omega)
            yield from bps.trigger_and_read([camera, goniometer], name="primary")
            recorder.load(callback.predictions[-1], callback.frames[-1], camera.frame_number.get())
            yield from bps.trigger_and_read([recorder], name="predictions")
        return callback.frames[first:]

    @bpp.subs_decorator(callback)
    @bpp.stage_decorator([camera, recorder])
    @bpp.run_decorator(md=metadata)
    def inner():
        for pass_index in range(passes):
            frames = yield from sweep()
            outcome.frames += len(frames)
            try:
                solution = solve_centring(frames, zoom.current, geometry, limits)
                move = solution.move.as_dict()
                targets = {name: getattr(goniometer, name).position + move[f"{name}_mm"] for name in MOVED_MOTORS}
                _check_limits(goniometer, targets)
            except AlignmentError as error:
                failure = _result_values(pass_index, type(error).__name__, str(error), None)
                yield from bps.trigger_and_read([results.update(failure)], name="results")
                raise
            yield from bps.trigger_and_read([results.update(_result_values(pass_index, "moved", "", solution))], name="results")
            args = []
            for name in MOVED_MOTORS:
                args += [getattr(goniometer, name), targets[name]]
                outcome.total_move_mm[name] += move[f"{name}_mm"]
            yield from bps.mv(*args)
            outcome.solutions.append(solution)

    yield from inner()
    return outcome
