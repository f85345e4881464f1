"""Choosing the movement model of a tracked point: the circle, or the slab with film refraction.

A point on the film's mid-plane, or a film the camera sees without refraction, moves on the circle
(3 parameters); a crystal off the mid-plane moves on the slab model (7 parameters, see
:mod:`mxsight.geometry.slab`). The choice is by the Bayesian information criterion
``n*ln(RSS/n) + k*ln(n)``, computed for both models on the SAME points (the union of the two fits'
inliers): each fit rejects its own outliers, and comparing residual sums over different point sets
would reward the model that rejected more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mxsight.geometry.circle import CircleFit, fit_circle
from mxsight.geometry.slab import MIN_COVERAGE_DEG, MIN_POINTS, N_PARAMETERS, SlabFit, SlabFitError, fit_slab, omega_coverage_deg

CIRCLE_N_PARAMETERS = 3
"""Free parameters of the circle model (c, a, b); CircleFit has no ``n_parameters`` attribute."""

MIN_POINTS_FOR_SLAB_CHOICE = N_PARAMETERS + 3
"""Points below which the slab is not offered to the BIC: with fewer than three residual degrees of
freedom its seven parameters come close to passing through the points and the criterion rewards that.
Ten, so that a 12-frame fine sweep whose crystal the film hides in its two edge-on views (as it does
for most crystals off the film's mid-plane, 30 degrees apart) is still fitted with refraction."""

RELATIVE_RESOLUTION = 1e-12
"""Residuals below this fraction of the values' magnitude are rounding, not misfit: the residual
variance in :func:`bic` is floored there, so exact data do not compare logarithms of rounding noise."""


def parameter_count(fit: CircleFit | SlabFit) -> int:
    """Free parameters of a fitted movement model."""
    return int(getattr(fit, "n_parameters", CIRCLE_N_PARAMETERS))


def bic(residuals, n_parameters: int, *, variance_floor: float = 0.0) -> float:
    """Bayesian information criterion ``n*ln(RSS/n) + k*ln(n)`` of least-squares residuals (Gaussian
    errors of unknown variance). ``variance_floor`` guards RSS = 0 (default: the smallest positive float)."""
    residuals = np.asarray(residuals, dtype=float)
    n = residuals.size
    if n == 0:
        return float("nan")
    variance = float(residuals @ residuals) / n
    variance = max(variance, variance_floor, np.finfo(float).tiny)
    return float(n * np.log(variance) + n_parameters * np.log(n))


@dataclass(frozen=True)
class MovementModelChoice:
    """The chosen model (``"circle"`` or ``"slab"``) and its fit, with both fits and their BIC values
    (``slab`` None and ``bic_slab`` nan when the slab could not be fitted: too few points, too little
    omega coverage, or a failed fit). ``compared_points`` marks the points both BICs were computed on."""

    model: str
    fit: CircleFit | SlabFit
    circle: CircleFit
    slab: SlabFit | None
    bic_circle: float
    bic_slab: float
    compared_points: np.ndarray | None = None
    reason: str = ""

    def as_record(self) -> dict[str, float | str]:
        """Plain floats and strings for run records: the choice, both BICs and the chosen circle."""
        record: dict[str, float | str] = {
            "model": self.model,
            "reason": self.reason,
            "bic_circle": float(self.bic_circle),
            "bic_slab": float(self.bic_slab),
            "c": float(self.fit.c),
            "a": float(self.fit.a),
            "b": float(self.fit.b),
            "c_sigma": float(self.fit.c_sigma),
            "residual_rms": float(self.fit.residual_rms),
            "n_inliers": float(self.fit.n_inliers),
            "circle_residual_rms": float(self.circle.residual_rms),
        }
        if self.slab is not None:
            slab = self.slab
            record.update(
                {
                    "slab_beta_deg": float(slab.beta_deg),
                    "slab_d_plus": float(slab.d_plus),
                    "slab_d_minus": float(slab.d_minus),
                    "slab_refractive_index": float(slab.refractive_index),
                    "slab_residual_rms": float(slab.residual_rms),
                }
            )
        return record


def select_movement_model(
    omega_deg,
    values,
    *,
    shift_sign: float = -1.0,
    min_points_for_slab: int = MIN_POINTS_FOR_SLAB_CHOICE,
    model: str = "auto",
    min_sigma: float = 1e-6,
    **slab_options,
) -> MovementModelChoice:
    """Fit the circle (always) and the slab (when there are at least ``min_points_for_slab`` finite
    points over at least 180 degrees of omega), and choose the lower BIC on the union of their inliers.
    ``model="circle"`` skips the slab; ``model="slab"`` takes the slab whatever the BIC says, and
    raises :class:`SlabFitError` when it cannot be fitted. ``min_sigma`` floors the robust residual
    scale of both fits' outlier rejection: set it to the measurement's precision (about half a pixel
    for mask-derived points) so that points are not rejected for noise below it.

    ``slab_options`` go to :func:`mxsight.geometry.slab.fit_slab` (e.g. ``max_depth``,
    ``refractive_index_bounds``). Circle fit errors propagate (without a circle there is nothing to choose).
    """
    if model not in ("auto", "circle", "slab"):
        raise ValueError(f"model must be 'auto', 'circle' or 'slab', got {model!r}")
    omega_deg = np.asarray(omega_deg, dtype=float)
    values = np.asarray(values, dtype=float)
    circle = fit_circle(omega_deg, values, min_sigma=min_sigma)
    finite = np.isfinite(omega_deg) & np.isfinite(values)
    n_finite = int(finite.sum())
    coverage = omega_coverage_deg(omega_deg[finite]) if n_finite else 0.0

    def circle_only(reason: str) -> MovementModelChoice:
        return MovementModelChoice(
            model="circle",
            fit=circle,
            circle=circle,
            slab=None,
            bic_circle=bic(values[circle.inliers] - circle.predict(omega_deg[circle.inliers]), CIRCLE_N_PARAMETERS),
            bic_slab=float("nan"),
            compared_points=circle.inliers.copy(),
            reason=reason,
        )

    if model == "circle":
        return circle_only("the circle model was asked for")
    if model == "slab":
        min_points_for_slab = 0
    if n_finite < max(min_points_for_slab, MIN_POINTS):
        if model == "slab":
            raise SlabFitError(f"{n_finite} points, the slab model needs {MIN_POINTS}")
        return circle_only(f"{n_finite} points, the slab model needs {max(min_points_for_slab, MIN_POINTS)}")
    if coverage < MIN_COVERAGE_DEG and model != "slab":
        return circle_only(f"omega covers {coverage:.0f} degrees, the slab model needs {MIN_COVERAGE_DEG:.0f}")
    try:
        slab = fit_slab(omega_deg, values, shift_sign=shift_sign, min_sigma=min_sigma, **slab_options)
    except SlabFitError as error:
        if model == "slab":
            raise
        return circle_only(f"slab fit failed: {error}")

    compared = circle.inliers | slab.inliers
    omega, observed = omega_deg[compared], values[compared]
    floor = (RELATIVE_RESOLUTION * max(float(np.max(np.abs(observed))), 1.0)) ** 2
    bic_circle = bic(observed - circle.predict(omega), CIRCLE_N_PARAMETERS, variance_floor=floor)
    bic_slab = bic(observed - slab.predict(omega), slab.n_parameters, variance_floor=floor)
    chosen = "slab" if bic_slab < bic_circle or model == "slab" else "circle"
    return MovementModelChoice(
        model=chosen,
        fit=slab if chosen == "slab" else circle,
        circle=circle,
        slab=slab,
        bic_circle=bic_circle,
        bic_slab=bic_slab,
        compared_points=compared,
        reason=f"lower BIC on {int(compared.sum())} common points",
    )
