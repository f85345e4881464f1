"""Omega sweeps: where (zoom level), how many frames, stepped or continuous, and how to fit them.

A plan segments every frame through a :class:`SegmentationCallback` and records each frame's prediction
in the ``predictions`` stream, so the per-frame features it fits are those stored for later queries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import dataclasses
import uuid
from dataclasses import dataclass

import bluesky.plan_stubs as bps
import numpy as np

from mxsight.callbacks.segmentation import SegmentationCallback
from mxsight.devices.prediction_recorder import PredictionRecorder
from mxsight.geometry.centring import CentringGeometry
from mxsight.geometry.circle import CircleFitError, fit_circle
from mxsight.plans.centring_solution import ConfidenceLimits, Model, Target
from mxsight.plans.reads import read_limits, read_position
from mxsight.vision.features import FrameFeatures
from mxsight.vision.segmenter import Segmenter

LOWEST = "lowest"
POLL_S = 0.005  # how often a continuous sweep reads omega while waiting for its next angle
TURN_END_TIMEOUT_S = 60.0  # after its frames are segmented, omega must have ended its turn within this


@dataclass(frozen=True)
class Sweep:
    """One sweep. ``zoom_level`` None keeps the zoom the plan started at, ``"lowest"`` takes the lowest
    calibrated level (the widest view: a coarse sweep finds and roughly centres the sample there).
    ``continuous`` rotates omega without stopping and takes each frame's omega from the goniometer's
    readback at exposure time; else omega is stepped to each angle. ``target`` overrides the plan's
    target choice for this sweep (a coarse sweep centres the loop, which is large and always seen).
    ``only_if_needed`` marks a sweep whose only job is to bring the sample into the next sweep's view
    (the coarse one): the plan first takes the next sweep, and comes back to this one only when that
    sweep's first frames show the loop leaving the view over the turn (:func:`look_verdict`); when
    that sweep is continuous, its whole turn is taken first and the look decides whether the rest of
    its frames are segmented. A continuous sweep takes one frame as omega passes each of its angles."""

    frames: int = 18
    zoom_level: int | str | None = None
    start_deg: float = 0.0
    span_deg: float = 360.0
    continuous: bool = False
    model: Model = "auto"
    limits: ConfidenceLimits = ConfidenceLimits()
    target: Target | None = None
    required: bool = True
    only_if_needed: bool = False

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise ValueError(f"a sweep needs at least one frame, got {self.frames}")
        if not 0 < self.span_deg <= 360:
            raise ValueError(f"span_deg must be in (0, 360], got {self.span_deg}")
        if isinstance(self.zoom_level, str) and self.zoom_level != LOWEST:
            raise ValueError(f"zoom_level must be a level number, None or {LOWEST!r}, got {self.zoom_level!r}")

    def omegas_deg(self) -> np.ndarray:
        """Stepped angles: ``frames`` evenly over the span (the end excluded for a full turn)."""
        closed = self.span_deg < 360
        steps = max(self.frames - 1, 1) if closed else self.frames
        return self.start_deg + self.span_deg * np.arange(self.frames) / steps

    def level(self, zoom, start_level: int) -> int:
        """The zoom level to sweep at, given the level the plan started at."""
        if self.zoom_level is None:
            return int(start_level)
        if self.zoom_level == LOWEST:
            return min(zoom.calibration.levels)
        return int(self.zoom_level)


# The coarse sweep only brings the sample near the axis for the fine one, at the widest view where a
# pixel is several um: its limits are bounds of sanity, not of the final precision (an ice crust's few
# pixels there do not keep the fine sweep from seeing the loop, and the fine sweep judges it again).
COARSE_SWEEP = Sweep(
    frames=8,
    zoom_level=LOWEST,
    model="circle",
    limits=ConfidenceLimits(max_move_sigma_um=10.0, max_residual_rms_um=15.0, max_loop_edge_on_ice=float("inf")),
    target="loop",
    required=False,
)
FINE_SWEEP = Sweep(frames=12)
# Coarse then fine every time: the zoom moves out and back on every sample (20 frames).
COARSE_THEN_FINE: tuple[Sweep, ...] = (COARSE_SWEEP, FINE_SWEEP)
# The default: the coarse sweep only when the fine sweep's first frames show the loop leaving the view
# (12 frames instead of 20 for samples mounted near the axis, no zoom moves). Over seeds 3000-3499 of
# the centring benchmark it centred 432 samples with 14 confident misses, against 430 and 20 for
# coarse then 18 fine frames, in half the frames (docs/evaluation/centring-network.md).
COARSE_IF_NEEDED_THEN_FINE: tuple[Sweep, ...] = (dataclasses.replace(COARSE_SWEEP, only_if_needed=True), FINE_SWEEP)


def with_limits(limits: ConfidenceLimits, sweeps: Sequence[Sweep] = COARSE_IF_NEEDED_THEN_FINE) -> tuple[Sweep, ...]:
    """``sweeps`` with ``limits`` (a beamline's, from its beamline file) on each required sweep (the
    fine one); the coarse sweep keeps its bounds of sanity."""
    return tuple(dataclasses.replace(sweep, limits=limits) if sweep.required else sweep for sweep in sweeps)


class FrameTaker:
    """Takes frames with the camera and goniometer, segments them and records their predictions."""

    def __init__(self, camera, goniometer, zoom, segmenter: Segmenter, spindle: str):
        self.camera, self.goniometer, self.zoom = camera, goniometer, zoom
        self.start_level: int | None = None  # read at the first sweep
        self._segmenter = segmenter
        omega_key = camera.exposure_omega_deg.name if camera.omega_source is not None else goniometer.omega.name
        self.callback = SegmentationCallback(
            segmenter, image_key=camera.image_key, omega_key=omega_key, spindle=spindle, empty_field=camera.reference_background()
        )
        self.recorder = PredictionRecorder(name="predictions", frame_shape=camera.frame_shape, write_directory=camera.write_directory)

    def set_zoom(self, level: int):
        """Change the zoom and give the segmenter the empty field of the new level."""
        if int((yield from bps.rd(self.zoom.level))) != level:
            yield from bps.mv(self.zoom, level)
        self._follow_empty_field()

    def use_segmenter(self, segmenter: Segmenter) -> None:
        """Segment the frames from now on with ``segmenter`` (a fallback), for this zoom's empty field."""
        self._segmenter = segmenter
        self._follow_empty_field()

    def _follow_empty_field(self) -> None:
        """Give the segmenter and the self-check the camera's empty field at the current zoom."""
        empty_field = self.camera.reference_background()
        self.callback.segmenter = self._segmenter.for_background(empty_field)
        self.callback.empty_field = empty_field

    def take(self):
        """One frame, its prediction recorded; returns its features."""
        frame_number = yield from self._acquire()
        yield from self._record_prediction(frame_number)
        return self.callback.frames[-1]

    def _acquire(self):
        """One frame recorded in ``primary``; returns its frame number."""
        reading = yield from bps.trigger_and_read([self.camera, self.goniometer, self.zoom], name="primary")
        return reading[self.camera.frame_number.name]["value"]

    def _record_prediction(self, frame_number: int):
        self.recorder.load(self.callback.predictions[-1], self.callback.frames[-1], frame_number)
        yield from bps.trigger_and_read([self.recorder], name="predictions")

    def stepped(self, omegas_deg: Sequence[float], keep_going: Callable[[list[FrameFeatures]], bool] | None = None):
        """Frames at each of ``omegas_deg``; stops early when ``keep_going`` (given the features so
        far after each frame) says False."""
        features = []
        for omega in omegas_deg:
            yield from bps.mv(self.goniometer.omega, float(omega))
            features.append((yield from self.take()))
            if keep_going is not None and not keep_going(features):
                break
        return features

    def continuous(self, sweep: Sweep, keep_going: Callable[[list[FrameFeatures]], bool] | None = None):
        """Frames taken while omega turns through the sweep's span without stopping: one as omega passes
        each of the sweep's angles, at the camera's pace and not segmented yet (only exposures happen
        during the turn); then segmented and recorded in order, stopping early when ``keep_going``
        says False. Each frame's omega is the camera's at exposure."""
        if self.camera.omega_source is None:
            raise ValueError(f"a continuous sweep needs the camera {self.camera.name!r} to read omega at exposure (omega_source)")
        omega = self.goniometer.omega
        targets = list((yield from self._nearest_turn(sweep)))
        start_deg = targets[0]
        if abs((yield from read_position(omega)) - start_deg) > 1e-6:  # a move to where it is: no DMOV to wait for
            yield from bps.mv(omega, start_deg)
        group = f"continuous-turn-{uuid.uuid4()}"
        turn = yield from bps.abs_set(omega, start_deg + sweep.span_deg, group=group, wait=False)
        self.callback.defer()
        frame_numbers = []
        while targets:
            if (yield from read_position(omega)) + 1e-9 >= targets[0]:
                reading = yield from bps.trigger_and_read([self.camera, self.goniometer, self.zoom], name="primary")
                frame_numbers.append(reading[self.camera.frame_number.name]["value"])
                exposed_deg = float(reading[self.callback.omega_key]["value"])
                while targets and targets[0] <= exposed_deg + 1e-9:  # a slow camera skips angles it passed
                    targets.pop(0)
            elif turn.done:
                break
            else:
                yield from bps.sleep(POLL_S)
        features = []
        for frame_number, frame in zip(frame_numbers, self.callback.segment_deferred()):
            yield from self._record_prediction(frame_number)
            features.append(frame)
            if keep_going is not None and not keep_going(features):
                break
        yield from bps.wait(group, timeout=TURN_END_TIMEOUT_S)
        if len(frame_numbers) < sweep.limits.min_frames:
            raise ValueError(
                f"the continuous sweep of {sweep.span_deg} deg gave {len(frame_numbers)} frames, fewer than "
                f"{sweep.limits.min_frames}: slow omega down or speed the camera up"
            )
        return features

    def sweep(self, sweep: Sweep, keep_going: Callable[[list[FrameFeatures]], bool] | None = None):
        """The sweep's frames; a stepped sweep stops early when ``keep_going`` says False."""
        if self.start_level is None:
            self.start_level = int((yield from bps.rd(self.zoom.level)))
        yield from self.set_zoom(sweep.level(self.zoom, self.start_level))
        if sweep.continuous:
            return (yield from self.continuous(sweep, keep_going))
        return (yield from self.stepped((yield from self._nearest_turn(sweep)), keep_going))

    def _nearest_turn(self, sweep: Sweep):
        """The sweep's angles shifted by whole turns to start nearest omega's position (after a sweep
        that ended at 330 deg, the next starts at 360, not back at 0), unless that leaves omega's limits
        (plan; returns the angles)."""
        omegas = sweep.omegas_deg()
        now = yield from read_position(self.goniometer.omega)
        shifted = omegas + 360.0 * round((now - sweep.start_deg) / 360.0)
        low, high = yield from read_limits(self.goniometer.omega)
        end = shifted[0] + sweep.span_deg
        if low < high and not (low <= shifted.min() and end <= high):
            return omegas
        return shifted


def present_in(features: Sequence[FrameFeatures]) -> bool:
    return any(f.present for f in features)


LOOK_SPAN_DEG = 100.0  # a sweep's frames within this of its start decide whether the loop stays in view
MIN_LOOK_FRAMES = 4  # fewer frames within LOOK_SPAN_DEG: no look, the coarse sweep runs (12 frames a turn give 4)
VIEW_MARGIN_FRACTION = 0.05  # of the view across the spindle, kept clear on either side


def look_verdict(
    features: Sequence[FrameFeatures],
    frame_shape: tuple[int, int],
    spindle: str,
    *,
    look_frames: int,
    margin_fraction: float = VIEW_MARGIN_FRACTION,
) -> tuple[bool | None, str]:
    """Whether the loop stays in the view over a whole turn, judged on a sweep's first ``look_frames``
    frames, and why: (None, "") while fewer are taken; (False, why) as soon as one of them does not show
    the whole loop; else whether the circle fitted to the loop centre across the spindle, predicted
    over a whole turn, widened by three standard deviations of that prediction (from the fit's
    covariance) and by the largest half-extent of the loop seen in either
    direction (a loop turning face-on grows across the spindle), keeps ``margin_fraction`` of the view
    clear on both sides. Later frames do not change the verdict."""
    look = list(features[:look_frames])
    for f in look:
        if f.problem or not f.present or f.loop_touches_edge:
            seen = f"frame at omega {f.omega_deg:.0f} deg " + (f"is unusable ({f.problem})" if f.problem else "does not show the whole loop")
            return False, seen
    if len(look) < look_frames:
        return None, ""
    geometry = CentringGeometry(spindle=spindle)
    size = geometry.split(frame_shape)[0]
    try:
        fit = fit_circle([f.omega_deg for f in look], [geometry.split(f.target_px)[0] for f in look])
    except CircleFitError as error:
        return False, f"the first {len(look)} loop centres do not fit a circle ({error})"
    half_extent = max(max(f.bbox_px[2] - f.bbox_px[0], f.bbox_px[3] - f.bbox_px[1]) for f in look) / 2.0
    omegas = np.arange(0.0, 360.0, 5.0)
    centre, sigma = fit.predict(omegas), fit.predict_sigma(omegas)
    low = float((centre - 3.0 * sigma).min() - half_extent)
    high = float((centre + 3.0 * sigma).max() + half_extent)
    margin = margin_fraction * size
    where = f"the loop would span {low:.0f}-{high:.0f} px across the spindle over a turn, in a view of {size} px"
    return bool(low >= margin and high <= size - 1 - margin), where
