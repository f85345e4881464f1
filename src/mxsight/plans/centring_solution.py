"""Turns one omega sweep's per-frame features into a confident centring move, or a named failure."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mxsight.devices.zoom import ZoomLevel
from mxsight.geometry.centring import CentringGeometry, CentringMove, centring_move
from mxsight.geometry.circle import CircleFit, CircleFitError, fit_circle
from mxsight.plans.errors import FitNotConfident, FrameUnusable, SampleNotFound
from mxsight.vision.features import FrameFeatures


@dataclass(frozen=True)
class ConfidenceLimits:
    """When a fit is good enough to move motors."""

    min_frames: int = 5
    min_inlier_fraction: float = 0.7
    max_residual_rms_px: float = 3.0
    max_move_sigma_um: float = 3.0


@dataclass(frozen=True)
class CentringSolution:
    fit: CircleFit
    move: CentringMove
    along_px: float
    n_frames: int
    n_present: int

    def as_record(self) -> dict[str, object]:
        fit = self.fit
        record: dict[str, object] = {
            "model": "circle",
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
            "along_px": self.along_px,
        }
        record.update({f"move_{key}": value for key, value in self.move.as_dict().items()})
        return record


RESULT_TEMPLATE: dict[str, object] = {
    "model": "circle",
    **{key: float("nan") for key in ("c_px", "r_px", "alpha_deg", "c_sigma_px", "r_sigma_px", "alpha_sigma_deg", "residual_rms_px", "along_px")},
    **{key: 0 for key in ("n_inliers", "n_frames", "n_present")},
    **{
        f"move_{motor}_{suffix}": float("nan")
        for motor in ("centring_x", "centring_y", "alignment_y", "alignment_z")
        for suffix in ("mm", "sigma_mm")
    },
}


def _along_spindle(frames: list[FrameFeatures], geometry: CentringGeometry) -> tuple[float, float]:
    """Along-spindle coordinate of the target from frames where the loop is seen broad side on (its
    widest point is then well defined), with a robust standard error."""
    across_extent = np.array(
        [(f.bbox_px[2] - f.bbox_px[0]) if geometry.spindle == "horizontal" else (f.bbox_px[3] - f.bbox_px[1]) for f in frames]
    )
    along = np.array([geometry.split(f.target_px)[1] for f in frames])
    broad = across_extent >= 0.5 * across_extent.max()
    values = along[broad]
    centre = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(values - centre)))
    return centre, max(spread, 0.5) / np.sqrt(values.size)


def solve_centring(
    frames: list[FrameFeatures],
    zoom: ZoomLevel,
    geometry: CentringGeometry = CentringGeometry(),
    limits: ConfidenceLimits = ConfidenceLimits(),
) -> CentringSolution:
    """Fit the circle model to the target's perpendicular coordinate and derive the move."""
    if not frames:
        raise SampleNotFound("no frames were acquired")
    problems = [f.problem for f in frames if f.problem]
    present = [f for f in frames if f.present]
    if len(problems) == len(frames):
        raise FrameUnusable(f"all {len(frames)} frames were unusable; first: {problems[0]}")
    if len(present) < limits.min_frames:
        raise SampleNotFound(f"a sample was seen in {len(present)} of {len(frames)} frames, {limits.min_frames} are needed")
    omega = np.array([f.omega_deg for f in present])
    perpendicular = np.array([geometry.split(f.target_px)[0] for f in present])
    try:
        fit = fit_circle(omega, perpendicular)
    except CircleFitError as error:
        raise FitNotConfident(str(error)) from error
    inlier_fraction = fit.n_inliers / len(present)
    if inlier_fraction < limits.min_inlier_fraction:
        raise FitNotConfident(f"only {fit.n_inliers} of {len(present)} frames agree with the circle model")
    if fit.residual_rms > limits.max_residual_rms_px:
        raise FitNotConfident(f"residual {fit.residual_rms:.2f} px exceeds {limits.max_residual_rms_px} px")
    along_px, along_sigma_px = _along_spindle(present, geometry)
    move = centring_move(fit, along_px, along_sigma_px, zoom.beam_position_px, zoom.pixel_size_um, geometry)
    if move.max_sigma_um > limits.max_move_sigma_um:
        raise FitNotConfident(f"move uncertainty {move.max_sigma_um:.1f} um exceeds {limits.max_move_sigma_um} um")
    return CentringSolution(fit=fit, move=move, along_px=along_px, n_frames=len(frames), n_present=len(present))
