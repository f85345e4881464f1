"""Turns one omega sweep's per-frame features into a confident centring move, or a named failure.

The target is a choice (``target``): the crystal when one is seen in most frames and its fit is
confident, else the loop centre (``"auto"``, the default), or either one forced; the choice and its
reason are recorded. The coordinate across the spindle is fitted with the
movement model (``model``): the circle, the refraction-aware slab, or the one an information criterion
prefers (``"auto"``); the coordinate along the spindle, which rotation does not move, is a robust mean.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from mxsight.devices.zoom import ZoomLevel
from mxsight.geometry.centring import CentringGeometry, CentringMove, centring_move
from mxsight.geometry.circle import CircleFitError
from mxsight.geometry.model_selection import MovementModelChoice, select_movement_model
from mxsight.geometry.slab import SlabFitError
from mxsight.plans.confidence_limits import ConfidenceLimits
from mxsight.plans.errors import FitNotConfident, FrameUnusable, SampleNotFound, SampleOffScreen, SegmentationNotTrusted
from mxsight.vision.features import FrameFeatures

Target = Literal["auto", "crystal", "loop"]
MEASUREMENT_SIGMA_PX = 0.5  # precision of a mask-derived point: residuals below it are noise, not outliers
Model = Literal["auto", "circle", "slab"]


@dataclass(frozen=True)
class CentringSolution:
    """A confident fit of one sweep and the move it implies."""

    target: str
    target_reason: str
    choice: MovementModelChoice
    move: CentringMove
    along_px: float
    along_sigma_px: float
    along_agreement: float
    n_frames: int
    n_present: int
    n_target: int
    # omegas of the frames the fit set aside: their masks disagree with the movement model
    outlier_omegas_deg: tuple[float, ...] = ()

    @property
    def fit(self):
        return self.choice.fit

    @property
    def model(self) -> str:
        return self.choice.model

    def as_record(self) -> dict[str, object]:
        fit = self.fit
        record: dict[str, object] = {
            "target": self.target,
            "target_reason": self.target_reason,
            "model": self.model,
            "c_px": fit.c,
            "r_px": fit.r,
            "alpha_deg": fit.alpha_deg,
            "c_sigma_px": fit.c_sigma,
            "r_sigma_px": fit.r_sigma,
            "alpha_sigma_deg": fit.alpha_sigma_deg,
            "residual_rms_px": fit.residual_rms,
            "n_inliers": fit.n_inliers,
            "n_frames": self.n_frames,
            "n_present": self.n_present,
            "n_target": self.n_target,
            "along_px": self.along_px,
            "along_sigma_px": self.along_sigma_px,
            "along_agreement": self.along_agreement,
            "outlier_omegas_deg": ",".join(f"{omega:.3f}" for omega in self.outlier_omegas_deg),
        }
        selection = self.choice.as_record()
        record.update({key: value for key, value in selection.items() if key in SELECTION_KEYS})
        record["model_reason"] = selection["reason"]
        record.update({f"move_{key}": value for key, value in self.move.as_dict().items()})
        return record


SELECTION_KEYS = ("bic_circle", "bic_slab", "slab_beta_deg", "slab_d_plus", "slab_d_minus", "slab_refractive_index")

RESULT_TEMPLATE: dict[str, object] = {
    "target": "",
    "target_reason": "",
    "model": "",
    "model_reason": "",
    "outlier_omegas_deg": "",
    **{
        key: float("nan")
        for key in (
            "c_px",
            "r_px",
            "alpha_deg",
            "c_sigma_px",
            "r_sigma_px",
            "alpha_sigma_deg",
            "residual_rms_px",
            "along_px",
            "along_sigma_px",
            "along_agreement",
            *SELECTION_KEYS,
        )
    },
    **{key: 0 for key in ("n_inliers", "n_frames", "n_present", "n_target")},
    **{
        f"move_{motor}_{suffix}": float("nan")
        for motor in ("centring_x", "centring_y", "alignment_y", "alignment_z")
        for suffix in ("mm", "sigma_mm")
    },
}


def choose_target(present: list[FrameFeatures], target: Target, limits: ConfidenceLimits) -> str:
    """The crystal when asked for, or (``"auto"``) when seen in ``min_crystal_fraction`` of the frames
    that show the sample and in at least ``min_frames``; else the loop centre."""
    if target in ("crystal", "loop"):
        return target
    if target != "auto":
        raise ValueError(f"target must be 'auto', 'crystal' or 'loop', got {target!r}")
    with_crystal = sum(np.isfinite(f.crystal_px[0]) for f in present)
    if with_crystal >= max(limits.min_frames, limits.min_crystal_fraction * len(present)):
        return "crystal"
    return "loop"


def _along_spindle(frames: list[FrameFeatures], target: str, geometry: CentringGeometry, max_deviation_px: float) -> tuple[float, float, float]:
    """Along-spindle coordinate of the target with a robust standard error, and the share of the frames
    within ``max_deviation_px`` of it. For the loop, only frames where it is seen broad side on count
    (its widest point is then well defined)."""
    along = np.array([geometry.split(f.point(target))[1] for f in frames])
    if target == "loop":
        across_extent = np.array(
            [(f.bbox_px[2] - f.bbox_px[0]) if geometry.spindle == "horizontal" else (f.bbox_px[3] - f.bbox_px[1]) for f in frames]
        )
        along = along[across_extent >= 0.5 * across_extent.max()]
    centre = float(np.median(along))
    deviation = np.abs(along - centre)
    spread = 1.4826 * float(np.median(deviation))
    return centre, max(spread, 0.5) / np.sqrt(along.size), float(np.mean(deviation <= max_deviation_px))


def loop_edge_medians(frames: list[FrameFeatures]) -> tuple[float, float]:
    """Medians over ``frames`` of the loop outline's share on ice and along the ice's edge: what
    :class:`ConfidenceLimits` judges a loop seen around an ice crust by."""
    return (
        float(np.median([f.loop_edge_on_ice for f in frames])),
        float(np.median([f.loop_edge_along_ice_edge for f in frames])),
    )


def _check_loop_edge(seen: list[FrameFeatures], limits: ConfidenceLimits) -> None:
    """Refuse a loop drawn around an ice crust (:class:`ConfidenceLimits`)."""
    on_ice, along_ice_edge = loop_edge_medians(seen)
    if on_ice > limits.max_loop_edge_on_ice and along_ice_edge > limits.max_loop_edge_along_ice_edge:
        raise FitNotConfident(
            f"the loop's outline lies on ice ({100 * on_ice:.0f}% of it, median over {len(seen)} frames) and "
            f"{100 * along_ice_edge:.0f}% of it runs along the ice's edge: the loop was seen around an ice crust, "
            "so its centre is not known; centre it by clicks (click_centre)"
        )


def _residual_limit_um(seen: list[FrameFeatures], target: str, limits: ConfidenceLimits) -> float:
    """The residual a fit of ``target`` may leave: ``max_iced_loop_residual_rms_um`` for a loop whose
    outline lies on ice (:class:`ConfidenceLimits`), else ``max_residual_rms_um``."""
    if target == "loop" and loop_edge_medians(seen)[0] > limits.max_loop_edge_on_ice:
        return max(limits.max_residual_rms_um, limits.max_iced_loop_residual_rms_um)
    return limits.max_residual_rms_um


def _fit_model(omega: np.ndarray, perpendicular: np.ndarray, model: Model, geometry: CentringGeometry) -> MovementModelChoice:
    try:
        return select_movement_model(
            omega, perpendicular, shift_sign=-geometry.perpendicular_sign, model=model, min_sigma=MEASUREMENT_SIGMA_PX
        )
    except (CircleFitError, SlabFitError) as error:
        raise FitNotConfident(str(error)) from error


def trusted_frames(frames: list[FrameFeatures], limits: ConfidenceLimits) -> list[FrameFeatures]:
    """``frames`` with those that failed the segmentation self-check marked not present (never fitted);
    raises :class:`SegmentationNotTrusted` when more than ``limits.max_untrusted_fraction`` failed."""
    untrusted = [f for f in frames if f.unsure_reason]
    if len(untrusted) > limits.max_untrusted_fraction * len(frames):
        raise SegmentationNotTrusted(
            f"{len(untrusted)} of {len(frames)} frames failed the segmentation self-check; "
            f"first, at omega {untrusted[0].omega_deg:.0f} deg: {untrusted[0].unsure_reason}"
        )
    return [replace(f, present=False, target="") if f.unsure_reason else f for f in frames]


def solve_centring(
    frames: list[FrameFeatures],
    zoom: ZoomLevel,
    geometry: CentringGeometry = CentringGeometry(),
    limits: ConfidenceLimits = ConfidenceLimits(),
    *,
    target: Target = "auto",
    model: Model = "auto",
) -> CentringSolution:
    """Fit the movement model to the target's perpendicular coordinate and derive the move."""
    if not frames:
        raise SampleNotFound("no frames were acquired")
    problems = [f.problem for f in frames if f.problem]
    if len(problems) == len(frames):
        raise FrameUnusable(f"all {len(frames)} frames were unusable; first: {problems[0]}")
    frames = trusted_frames(frames, limits)
    present = [f for f in frames if f.present]
    if len(present) < limits.min_frames:
        raise SampleNotFound(f"a sample was seen in {len(present)} of {len(frames)} frames, {limits.min_frames} are needed")
    off_screen = sum(f.loop_touches_edge for f in present)
    if off_screen > limits.max_off_screen_fraction * len(present):
        raise SampleOffScreen(f"the loop runs out of the image in {off_screen} of {len(present)} frames")
    chosen = choose_target(present, target, limits)
    if target == "auto" and chosen == "crystal":
        try:
            return _solve_for(frames, present, "crystal", "seen in most frames", zoom, geometry, limits, model)
        except FitNotConfident as crystal_error:
            reason = f"crystal fit not confident ({crystal_error.args[0]})"
            try:
                return _solve_for(frames, present, "loop", reason, zoom, geometry, limits, model)
            except FitNotConfident as loop_error:
                raise FitNotConfident(f"{loop_error.args[0]}; the {reason}") from loop_error
    reason = "asked for" if target != "auto" else "no crystal seen in most frames"
    return _solve_for(frames, present, chosen, reason, zoom, geometry, limits, model)


def _solve_for(
    frames: list[FrameFeatures],
    present: list[FrameFeatures],
    chosen: str,
    reason: str,
    zoom: ZoomLevel,
    geometry: CentringGeometry,
    limits: ConfidenceLimits,
    model: Model,
) -> CentringSolution:
    seen = [f for f in present if np.isfinite(f.point(chosen)[0])]
    if len(seen) < limits.min_frames:
        raise SampleNotFound(f"the {chosen} was seen in {len(seen)} of {len(frames)} frames, {limits.min_frames} are needed")
    if chosen == "loop":
        _check_loop_edge(seen, limits)
    omega = np.array([f.omega_deg for f in seen])
    perpendicular = np.array([geometry.split(f.point(chosen))[0] for f in seen])
    if model == "auto" and chosen == "loop":
        model = "circle"  # the loop's outline is seen directly, not through the film: nothing to refract
    choice = _fit_model(omega, perpendicular, model, geometry)
    fit = choice.fit
    inlier_fraction = fit.n_inliers / len(seen)
    if inlier_fraction < limits.min_inlier_fraction:
        raise FitNotConfident(f"only {fit.n_inliers} of {len(seen)} frames agree with the {choice.model} model")
    residual_limit_um = _residual_limit_um(seen, chosen, limits)
    if fit.residual_rms * zoom.pixel_size_um > residual_limit_um:
        raise FitNotConfident(
            f"{choice.model} model residual {fit.residual_rms:.2f} px ({fit.residual_rms * zoom.pixel_size_um:.2f} um) exceeds {residual_limit_um:g} um"
        )
    max_deviation_px = limits.max_along_deviation_um / zoom.pixel_size_um
    along_px, along_sigma_px, along_agreement = _along_spindle(seen, chosen, geometry, max_deviation_px)
    if along_agreement < limits.min_along_agreement:
        raise FitNotConfident(
            f"the {chosen} lies within {limits.max_along_deviation_um:g} um ({max_deviation_px:.1f} px) of its median position along the spindle in only "
            f"{100 * along_agreement:.0f}% of the frames (rotation does not move it along the spindle): its mask is not the "
            "same thing in every view"
        )
    move = centring_move(fit, along_px, along_sigma_px, zoom.beam_position_px, zoom.pixel_size_um, geometry)
    if move.max_sigma_um > limits.max_move_sigma_um:
        raise FitNotConfident(f"move uncertainty {move.max_sigma_um:.1f} um exceeds {limits.max_move_sigma_um} um")
    if chosen == "crystal" and move.max_sigma_um > limits.max_crystal_move_sigma_um:
        raise FitNotConfident(f"the crystal's move uncertainty {move.max_sigma_um:.1f} um exceeds {limits.max_crystal_move_sigma_um} um")
    return CentringSolution(
        target=chosen,
        target_reason=reason,
        choice=choice,
        move=move,
        along_px=along_px,
        along_sigma_px=along_sigma_px,
        along_agreement=along_agreement,
        n_frames=len(frames),
        n_present=len(present),
        n_target=len(seen),
        outlier_omegas_deg=tuple(float(o) for o in omega[~np.asarray(fit.inliers, dtype=bool)]),
    )
