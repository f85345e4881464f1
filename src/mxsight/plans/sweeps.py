"""Omega sweeps: where (zoom level), how many frames, stepped or continuous, and how to fit them; and
the look that decides, from a sweep's first frames, whether the loop stays in view over a turn.

:class:`mxsight.plans.frame_taker.FrameTaker` takes a sweep's frames.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mxsight.geometry.centring import CentringGeometry
from mxsight.geometry.circle import CircleFitError, fit_circle
from mxsight.plans.centring_solution import Model, Target
from mxsight.plans.confidence_limits import ConfidenceLimits
from mxsight.vision.features import FrameFeatures

LOWEST = "lowest"


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
