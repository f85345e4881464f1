"""Face-on and edge-on omega of a flat loop from its projected area, ``A(omega) = a + b*cos(2*(omega - omega_face))``.

A loop (or plate crystal) seen through an orthographic camera shows its largest area when its plane
faces the camera and its smallest when seen edge-on, 90 degrees later; the curve repeats every 180
degrees. Written as ``a + c*cos(2 omega) + s*sin(2 omega)`` the model is linear in (a, c, s): it is the
circle model of :mod:`mxsight.geometry.circle` in the angle ``2*omega``, so the fit (biweight start,
then least squares on the points within ``rejection_sigma`` MAD-sigmas) is :func:`fit_circle` on
doubled angles, and ``omega_face = alpha/2``, its uncertainty half of alpha's (Jacobian of atan2).

The true area of a thin plate goes as ``|cos(omega - omega_face)|``, not as a pure sinusoid: the
missing harmonics (cos 4 omega, ...) are symmetric about the face-on angle, so they leave the fitted
angle unbiased when the omegas cover the turn evenly, but they show up in ``residual_rms_px``.

A flat curve (a round blob, or noise larger than the modulation) has no face-on angle. This module
does not invent one: by default :func:`fit_projected_area` raises :class:`FlatAreaError`; with
``allow_flat=True`` it returns an :class:`AreaFit` with ``determined=False``, NaN angles and the reason,
so a plan may log it and choose what to do (e.g. raster at the current omega).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mxsight.geometry.circle import CircleFitError, fit_circle

MIN_POINTS = 4


class AreaFitError(ValueError):
    """The areas cannot give a face-on angle: too few points, too little omega coverage, or a flat curve."""


class FlatAreaError(AreaFitError):
    """The area does not change significantly with omega; ``fit`` holds the undetermined :class:`AreaFit`."""

    def __init__(self, message: str, fit: "AreaFit"):
        super().__init__(message)
        self.fit = fit


@dataclass(frozen=True)
class AreaFit:
    """Result of :func:`fit_projected_area`. Areas are pixel counts (px), angles in degrees.

    ``face_on_deg`` (in [0, 180)) is the omega of maximal area, ``edge_on_deg`` = face_on + 90 (mod 180)
    of minimal area; both are NaN when ``determined`` is False, and ``reason`` then says why.
    """

    mean_area_px: float
    amplitude_px: float
    face_on_deg: float
    edge_on_deg: float
    face_on_sigma_deg: float
    residual_rms_px: float
    inliers: np.ndarray
    n_points: int
    mean_area_sigma_px: float
    amplitude_sigma_px: float
    cos_coefficient_px: float
    sin_coefficient_px: float
    determined: bool = True
    reason: str = ""

    @property
    def n_inliers(self) -> int:
        return int(self.inliers.sum())

    @property
    def amplitude_significance(self) -> float:
        """Amplitude in units of its standard deviation (inf for exact data)."""
        if self.amplitude_sigma_px > 0:
            return self.amplitude_px / self.amplitude_sigma_px
        return float("inf") if self.amplitude_px > 0 else 0.0

    def predict(self, omega_deg) -> np.ndarray:
        """Model area (px) at ``omega_deg``; defined even when the angle is not determined."""
        doubled = np.deg2rad(2.0 * np.asarray(omega_deg, dtype=float))
        return self.mean_area_px + self.cos_coefficient_px * np.cos(doubled) + self.sin_coefficient_px * np.sin(doubled)

    def as_record(self, prefix: str = "area_") -> dict[str, float | int | bool | str]:
        """Plain scalars (no arrays) for event documents and reports, keys prefixed with ``prefix``."""
        values = {
            "mean_px": self.mean_area_px,
            "amplitude_px": self.amplitude_px,
            "face_on_deg": self.face_on_deg,
            "edge_on_deg": self.edge_on_deg,
            "face_on_sigma_deg": self.face_on_sigma_deg,
            "residual_rms_px": self.residual_rms_px,
            "amplitude_significance": self.amplitude_significance,
            "n_inliers": self.n_inliers,
            "n_points": self.n_points,
            "determined": self.determined,
            "reason": self.reason,
        }
        return {
            prefix + name: (float(value) if isinstance(value, float | np.floating) else value) for name, value in values.items()
        }


def _span_deg(angles_deg: np.ndarray) -> float:
    """Covered part of the circle (degrees): 360 minus the largest gap between neighbouring angles."""
    ordered = np.sort(np.mod(angles_deg, 360.0))
    gaps = np.diff(np.concatenate([ordered, ordered[:1] + 360.0]))
    return float(360.0 - gaps.max())


def fit_projected_area(
    omega_deg,
    area_px,
    *,
    rejection_sigma: float = 3.5,
    min_span_deg: float = 60.0,
    min_significance: float = 3.0,
    min_relative_amplitude: float = 0.02,
    allow_flat: bool = False,
) -> AreaFit:
    """Fit the projected area (pixel counts) against omega and return the face-on / edge-on angles.

    ``min_span_deg``: the omegas, taken modulo 180, must cover at least this much (the doubled angles
    twice as much of a turn), or :class:`AreaFitError`. The curve counts as flat when its amplitude is
    below ``min_significance`` standard deviations or below ``min_relative_amplitude`` of the mean
    area: then :class:`FlatAreaError` unless ``allow_flat`` (see the module docstring).
    """
    omega_deg = np.asarray(omega_deg, dtype=float)
    area_px = np.asarray(area_px, dtype=float)
    if omega_deg.shape != area_px.shape or omega_deg.ndim != 1:
        raise AreaFitError(f"omega and area must be 1-D arrays of one length, got {omega_deg.shape} and {area_px.shape}")
    finite = np.isfinite(omega_deg) & np.isfinite(area_px)
    if finite.sum() < MIN_POINTS:
        raise AreaFitError(f"a projected-area fit needs at least {MIN_POINTS} finite points, got {int(finite.sum())}")
    span_deg = _span_deg(2.0 * omega_deg[finite]) / 2.0
    if span_deg < min_span_deg:
        raise AreaFitError(
            f"the omegas cover {span_deg:.1f} deg modulo 180, less than the {min_span_deg:g} deg a face-on angle needs"
        )
    try:
        circle = fit_circle(2.0 * omega_deg, area_px, rejection_sigma=rejection_sigma)
    except CircleFitError as error:
        raise AreaFitError(f"the projected-area fit is not constrained: {error}") from error

    amplitude, amplitude_sigma = circle.r, circle.r_sigma
    reason = ""
    if not amplitude > min_significance * amplitude_sigma:
        reason = (
            f"the area does not change significantly with omega: amplitude {amplitude:.1f} px is "
            f"{amplitude / amplitude_sigma if amplitude_sigma > 0 else 0.0:.1f} sigma, below {min_significance:g}"
        )
    elif not amplitude > min_relative_amplitude * abs(circle.c):
        reason = (
            f"the area hardly changes with omega: amplitude {amplitude:.1f} px is "
            f"{amplitude / abs(circle.c):.3f} of the mean {circle.c:.1f} px, below {min_relative_amplitude:g}"
        )
    determined = not reason
    face_on = float(np.mod(circle.alpha_deg / 2.0, 180.0)) if determined else float("nan")
    fit = AreaFit(
        mean_area_px=circle.c,
        amplitude_px=amplitude,
        face_on_deg=face_on,
        edge_on_deg=float(np.mod(face_on + 90.0, 180.0)),
        face_on_sigma_deg=circle.alpha_sigma_deg / 2.0 if determined else float("nan"),
        residual_rms_px=circle.residual_rms,
        inliers=circle.inliers,
        n_points=int(omega_deg.size),
        mean_area_sigma_px=circle.c_sigma,
        amplitude_sigma_px=amplitude_sigma,
        cos_coefficient_px=circle.a,
        sin_coefficient_px=circle.b,
        determined=determined,
        reason=reason,
    )
    if not determined and not allow_flat:
        raise FlatAreaError(reason + "; the face-on angle is undetermined (allow_flat=True returns the fit)", fit)
    return fit
