"""``auto_centre``: sweep omega, segment each frame, fit the movement model, and move the sample onto the
rotation axis and the beam, only on a confident fit.

By default the plan first looks at the fine sweep's first four frames (0-100 deg) at the zoom it
started at: when they show the loop staying in the view over a turn, the fine sweep (12 frames) goes
on, fits the refraction-aware model and centres the crystal, or the loop when no crystal is seen.
When they show it leaving the view, a coarse sweep at the lowest zoom (8 frames, circle model) first
brings the sample near the axis. When the first sweep sees nothing, the plan searches along the
spindle and around omega, as beamlines do, before it reports ``SampleNotFound``.
``sweeps=COARSE_THEN_FINE`` always runs the coarse sweep first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np

from mxsight.geometry.centring import CentringGeometry
from mxsight.plans.centring_solution import RESULT_TEMPLATE, CentringSolution, Target, solve_centring
from mxsight.plans.errors import (
    AlignmentError,
    FitNotConfident,
    MoveOutOfLimits,
    PinNotCentrable,
    SampleNotFound,
    SampleOffScreen,
    SegmentationNotTrusted,
)
from mxsight.plans.reads import camera_geometry, read_limits, read_positions, read_zoom
from mxsight.plans.records import RecordReadable, alignment_metadata
from mxsight.plans.frame_taker import FrameTaker
from mxsight.plans.sweeps import COARSE_IF_NEEDED_THEN_FINE, LOOK_SPAN_DEG, MIN_LOOK_FRAMES, Sweep, look_verdict, present_in
from mxsight.vision.features import FrameFeatures
from mxsight.vision.segmenter import Segmenter

MOVED_MOTORS = ("centring_x", "centring_y", "alignment_y")


@dataclass(frozen=True)
class SearchSettings:
    """Where to look when the first sweep sees no sample: steps along the spindle of
    ``step_fraction`` of the field of view, up to ``max_travel_mm`` either way, at each of ``omegas_deg``."""

    step_fraction: float = 0.8
    max_travel_mm: float = 4.0
    omegas_deg: tuple[float, ...] = (0.0, 90.0)


@dataclass
class AlignmentOutcome:
    """What ``auto_centre`` returns: each sweep's solution, the total move applied (mm), and each
    sweep's per-frame features (to refit offline, e.g. with another model) with its index in the
    plan's sweeps (``passes``: a coarse sweep found not needed is not among them)."""

    solutions: list[CentringSolution] = field(default_factory=list)
    sweep_features: list[list[FrameFeatures]] = field(default_factory=list)
    passes: list[int] = field(default_factory=list)
    total_move_mm: dict[str, float] = field(default_factory=dict)
    frames: int = 0
    searched: bool = False

    @property
    def target(self) -> str:
        return self.solutions[-1].target if self.solutions else ""


def check_limits(goniometer, targets: dict[str, float], solution: CentringSolution | None = None):
    """Raise a named error, before anything moves, if a target lies outside its motor's limits (plan)."""
    for motor_name, target in targets.items():
        motor = getattr(goniometer, motor_name)
        low, high = yield from read_limits(motor)
        if low < high and not low <= target <= high:
            where = f"{motor.name} would move to {target:.4f}, outside its limits [{low}, {high}]"
            if motor_name == "alignment_y":
                raise PinNotCentrable(f"{where}: the sample lies too far along the spindle (pin too long or too short)")
            if motor_name in ("centring_x", "centring_y") and solution is not None:
                off_axis_mm = abs(solution.move.centring_x_mm + 1j * solution.move.centring_y_mm)
                raise PinNotCentrable(f"{where}: the sample is {off_axis_mm:.3f} mm off the rotation axis (bent pin?)")
            raise MoveOutOfLimits(where)


def _result_values(sweep_index: int, outcome: str, message: str, solution: CentringSolution | None, frames: int) -> dict:
    values: dict[str, object] = {"pass": sweep_index, "outcome": outcome, "message": message, "sweep_frames": frames}
    if solution is not None:
        values.update(solution.as_record())
    return values


def search_sample(taker: FrameTaker, settings: SearchSettings):
    """Translate along the spindle and rotate until a frame shows the sample; leave it there and return
    True, or put every motor back and return False."""
    goniometer = taker.goniometer
    start = yield from read_positions(goniometer, ("alignment_y", "omega"))
    start_along_mm, start_omega_deg = start["alignment_y"], start["omega"]
    _, level = yield from read_zoom(taker.zoom)
    field_mm = max(taker.camera.frame_shape) * level.pixel_size_um / 1000.0
    step_mm = settings.step_fraction * field_mm
    low, high = yield from read_limits(goniometer.alignment_y)
    steps = max(1, int(np.ceil(settings.max_travel_mm / step_mm)))
    step_mm = settings.max_travel_mm / steps
    offsets = [0.0]
    for k in range(1, steps + 1):
        offsets += [k * step_mm, -k * step_mm]
    for offset in offsets:
        position = start_along_mm + offset
        if low < high and not low <= position <= high:
            continue
        yield from bps.mv(goniometer.alignment_y, position)
        if present_in((yield from taker.stepped(settings.omegas_deg))):
            return True
    yield from bps.mv(goniometer.alignment_y, start_along_mm, goniometer.omega, start_omega_deg)
    return False


def auto_centre(
    camera,
    goniometer,
    zoom,
    *,
    sample_id: str,
    sweeps: Sequence[Sweep] = COARSE_IF_NEEDED_THEN_FINE,
    target: Target = "auto",
    segmenter: Segmenter | None = None,
    geometry: CentringGeometry | None = None,
    search: SearchSettings | None = SearchSettings(),
    beamline: str | None = None,
    on_untrusted: Literal["refuse", "classical"] = "refuse",
    uncalibrated: Literal["refuse", "allow"] = "refuse",
    md: dict | None = None,
):
    """Centre the sample on the rotation axis and the beam.

    Each sweep records every frame (stream ``primary``) and its prediction (stream ``predictions``),
    fits its movement model and, only when the fit is confident and the move within limits, moves
    centring x/y and alignment y. Every sweep's target, model, fit and move, or the named failure, is
    recorded in stream ``results``. Failures raise an :class:`AlignmentError` subclass carrying the
    outcome so far (``error.outcome``), except an unconfident fit, an untrusted segmentation, or a
    sample seen in too few frames, in a sweep that is not ``required`` (the coarse one): it moves nothing and the next sweep goes on.
    A sweep ``only_if_needed`` (the coarse one) is recorded as ``skipped`` when the next sweep's first
    frames show the loop staying in view, and that sweep as ``abandoned`` (with the frames it took)
    when they do not; if a sweep that followed a skipped one then finds the loop off screen or gone, the
    skipped sweep runs after all, then that sweep again. The zoom is left where the last sweep took it.

    Every frame is self-checked (:mod:`mxsight.vision.self_check`); frames that fail are never fitted,
    and a sweep with too many of them raises ``SegmentationNotTrusted`` or, with
    ``on_untrusted="classical"`` and an empty field recorded for the zoom, is taken again with the
    classical segmenter against that field (recorded as outcome ``fallback``).

    How the camera sees the goniometer (``geometry``) comes from the zoom's calibration; on a camera
    never calibrated (``calibrate_camera``) the plan raises ``CameraNotCalibrated`` before anything is
    taken, unless ``uncalibrated="allow"``.
    """
    geometry = camera_geometry(zoom, geometry, uncalibrated)
    if on_untrusted not in ("refuse", "classical"):
        raise ValueError(f"on_untrusted must be 'refuse' or 'classical', got {on_untrusted!r}")
    sweeps = tuple(sweeps)
    if not sweeps:
        raise ValueError("auto_centre needs at least one sweep")
    for sweep in sweeps:
        if sweep.frames < sweep.limits.min_frames:
            raise ValueError(f"a sweep of {sweep.frames} frames is too short: at least {sweep.limits.min_frames} are needed")
    segmenter = segmenter or Segmenter.default(background=camera.reference_background(), spindle=geometry.spindle)
    taker = FrameTaker(camera, goniometer, zoom, segmenter, geometry.spindle)
    metadata = {
        **(yield from alignment_metadata("auto_centre", sample_id, zoom, geometry, beamline)),
        "target_choice": target,
        "on_untrusted": on_untrusted,
        "sweeps": [_describe_sweep(sweep) for sweep in sweeps],
        "passes": len(sweeps),
        **segmenter.describe(),
        **(md or {}),
    }
    outcome = AlignmentOutcome(total_move_mm={name: 0.0 for name in MOVED_MOTORS})
    results = RecordReadable("results", {"pass": 0, "outcome": "", "message": "", "sweep_frames": 0, **RESULT_TEMPLATE})

    @bpp.subs_decorator(taker.callback)
    @bpp.stage_decorator([camera, taker.recorder])
    @bpp.run_decorator(md=metadata)
    def inner():
        index, skipped, fell_back = 0, None, False  # skipped: the pass whose sweep was found not needed
        classical = False  # the segmentation was not trusted and the classical segmenter took over
        while index < len(sweeps):
            sweep, features = sweeps[index], None
            look_frames = _look_frames(sweeps[index + 1]) if sweep.only_if_needed and index + 1 < len(sweeps) and not fell_back else 0
            if look_frames:
                looked, in_view, why = yield from _look(taker, sweeps[index + 1], look_frames, camera.frame_shape, geometry.spindle)
                if in_view:
                    message = f"not needed: {why} (first {look_frames} frames of pass {index + 1})"
                    yield from bps.trigger_and_read([results.update(_result_values(index, "skipped", message, None, 0))], name="results")
                    skipped = index
                    index += 1
                    sweep, features = sweeps[index], looked
                else:
                    outcome.frames += len(looked)
                    message = f"the loop would leave the view: {why}; pass {index} first"
                    yield from bps.trigger_and_read([results.update(_result_values(index + 1, "abandoned", message, None, len(looked)))], name="results")
            if features is None:
                features = yield from taker.sweep(sweep)
                if index == 0 and search is not None and not present_in(features) and not all(f.problem for f in features):
                    outcome.searched = True
                    if (yield from search_sample(taker, search)):
                        outcome.frames += len(features)
                        features = yield from taker.sweep(sweep)
            outcome.frames += len(features)
            outcome.sweep_features.append(list(features))
            outcome.passes.append(index)
            try:
                _, level = yield from read_zoom(zoom)
                solution = solve_centring(features, level, geometry, sweep.limits, target=sweep.target or target, model=sweep.model)
                move = solution.move.as_dict()
                positions = yield from read_positions(goniometer, MOVED_MOTORS)
                targets = {name: positions[name] + move[f"{name}_mm"] for name in MOVED_MOTORS}
                yield from check_limits(goniometer, targets, solution)
            except AlignmentError as error:
                empty_field = camera.reference_background()
                if isinstance(error, SegmentationNotTrusted) and on_untrusted == "classical" and not classical and empty_field is not None:
                    message = f"{error}; the sweep is taken again with the classical segmenter and the empty field"
                    yield from bps.trigger_and_read([results.update(_result_values(index, "fallback", message, None, len(features)))], name="results")
                    taker.use_segmenter(Segmenter.classical(background=empty_field, spindle=geometry.spindle))
                    classical = True
                    continue
                skippable = not sweep.required and (
                    isinstance(error, (FitNotConfident, SegmentationNotTrusted)) or (isinstance(error, SampleNotFound) and present_in(features))
                )
                if isinstance(error, SampleNotFound) and outcome.searched and not skippable:
                    error = SampleNotFound(f"{error.args[0]}, after searching {search.max_travel_mm} mm along the spindle")
                values = _result_values(index, type(error).__name__, str(error), None, len(features))
                yield from bps.trigger_and_read([results.update(values)], name="results")
                if skipped == index - 1 and not fell_back and isinstance(error, (SampleOffScreen, SampleNotFound)):
                    index, fell_back = skipped, True  # the loop left the view after all: the skipped sweep runs, then this one again
                    continue
                index += 1
                if skippable:
                    continue
                error.outcome = outcome
                raise error
            yield from bps.trigger_and_read([results.update(_result_values(index, "moved", "", solution, len(features)))], name="results")
            args = []
            for name in MOVED_MOTORS:
                args += [getattr(goniometer, name), targets[name]]
                outcome.total_move_mm[name] += move[f"{name}_mm"]
            yield from bps.mv(*args)
            outcome.solutions.append(solution)
            index += 1

    yield from inner()
    return outcome


def _look_frames(sweep: Sweep) -> int:
    """How many of ``sweep``'s first frames decide whether the loop stays in view: those within
    ``LOOK_SPAN_DEG`` of its start; 0 (no look) for too few frames. A continuous sweep takes all its
    frames in one turn, and the look then decides whether the rest are segmented."""
    count = int(np.sum(sweep.omegas_deg() - sweep.start_deg <= LOOK_SPAN_DEG + 1e-9))
    return count if MIN_LOOK_FRAMES <= count < sweep.frames else 0


def _look(taker: FrameTaker, sweep: Sweep, look_frames: int, frame_shape: tuple[int, int], spindle: str):
    """Take ``sweep``, stopping after its first ``look_frames`` frames unless they show the loop
    staying in view (:func:`look_verdict`); returns the frames taken, the verdict and its reason."""

    def verdict(features):
        return look_verdict(features, frame_shape, spindle, look_frames=look_frames)

    features = yield from taker.sweep(sweep, lambda taken: len(taken) > look_frames or verdict(taken)[0] is not False)
    in_view, why = verdict(features)
    return features, in_view is True, why


def _describe_sweep(sweep: Sweep) -> dict:
    description = asdict(sweep)
    description["limits"] = {key: float(value) if math.isfinite(value) else None for key, value in description["limits"].items()}  # null: no limit
    description["zoom_level"] = str(sweep.zoom_level) if sweep.zoom_level is not None else "current"
    return description

