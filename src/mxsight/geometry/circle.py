"""The circle movement model ``v(omega) = c + r*cos(omega - alpha)``, fitted robustly with uncertainties.

A point at distance r from the rotation axis moves, in the image coordinate perpendicular to the
spindle, on this curve. Written as ``c + a*cos(omega) + b*sin(omega)`` it is linear in (c, a, b), so the
fit is least squares on the columns [1, cos, sin]: a start by iteratively reweighted least squares
(Tukey's biweight, so gross outliers cannot drag it), then ordinary least squares on the points whose
residual is within ``rejection_sigma`` robust standard deviations (median absolute deviation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_POINTS = 4


class CircleFitError(ValueError):
    """The data cannot constrain a circle fit (too few points or too little omega coverage)."""


@dataclass(frozen=True)
class CircleFit:
    """Result of :func:`fit_circle`; lengths in the unit of the data (pixels usually), angles in degrees."""

    c: float
    r: float
    alpha_deg: float
    c_sigma: float
    r_sigma: float
    alpha_sigma_deg: float
    a: float
    b: float
    covariance_cab: np.ndarray
    residual_rms: float
    inliers: np.ndarray

    @property
    def n_inliers(self) -> int:
        return int(self.inliers.sum())

    def predict(self, omega_deg) -> np.ndarray:
        omega = np.deg2rad(np.asarray(omega_deg, dtype=float))
        return self.c + self.a * np.cos(omega) + self.b * np.sin(omega)

    def predict_sigma(self, omega_deg) -> np.ndarray:
        """Standard deviation of :meth:`predict` at ``omega_deg`` (1-D), from the whole covariance of
        (c, a, b): c and r are strongly correlated when the angles span little of a turn."""
        design = _design(np.asarray(omega_deg, dtype=float))
        return np.sqrt(np.einsum("ij,jk,ik->i", design, self.covariance_cab, design))


def _design(omega_deg: np.ndarray) -> np.ndarray:
    omega = np.deg2rad(omega_deg)
    return np.column_stack([np.ones_like(omega), np.cos(omega), np.sin(omega)])


def robust_sigma(residuals: np.ndarray) -> float:
    """Scale of regression residuals (which centre on zero): 1.4826 * median(|r|)."""
    return 1.4826 * float(np.median(np.abs(residuals)))


def _biweight_start(design: np.ndarray, values: np.ndarray, iterations: int, min_sigma: float) -> np.ndarray:
    """Robust starting coefficients: least squares reweighted by Tukey's biweight (c = 4.685 sigma)."""
    weights = np.ones_like(values)
    coefficients = np.zeros(design.shape[1])
    for _ in range(iterations):
        root = np.sqrt(weights)
        coefficients, *_ = np.linalg.lstsq(design * root[:, None], values * root, rcond=None)
        residuals = values - design @ coefficients
        scaled = residuals / (4.685 * max(robust_sigma(residuals), min_sigma))
        weights = np.where(np.abs(scaled) < 1, (1 - scaled**2) ** 2, 0.0)
        if np.count_nonzero(weights) < MIN_POINTS:
            break
    return coefficients


def fit_circle(
    omega_deg, values, *, rejection_sigma: float = 3.5, max_iterations: int = 10, min_sigma: float = 1e-6
) -> CircleFit:
    """Fit ``values`` (e.g. a row in pixels) against ``omega_deg`` with outlier rejection.

    Uncertainties are the least-squares covariance scaled by the inlier residual variance, propagated
    to r and alpha through the Jacobian of (r, alpha) with respect to (a, b).
    """
    omega_deg = np.asarray(omega_deg, dtype=float)
    values = np.asarray(values, dtype=float)
    if omega_deg.shape != values.shape or omega_deg.ndim != 1:
        raise CircleFitError(f"omega and values must be 1-D arrays of one length, got {omega_deg.shape} and {values.shape}")
    finite = np.isfinite(omega_deg) & np.isfinite(values)
    if finite.sum() < MIN_POINTS:
        raise CircleFitError(f"a circle fit needs at least {MIN_POINTS} finite points, got {int(finite.sum())}")
    design = _design(omega_deg)
    coefficients = _biweight_start(design[finite], values[finite], max_iterations, min_sigma)
    inliers = finite.copy()
    for _ in range(max_iterations):
        residuals = values - design @ coefficients
        sigma = max(robust_sigma(residuals[inliers]), min_sigma)
        updated = finite & (np.abs(residuals) <= rejection_sigma * sigma)
        if updated.sum() < MIN_POINTS or np.array_equal(updated, inliers):
            break
        inliers = updated
        coefficients, *_ = np.linalg.lstsq(design[inliers], values[inliers], rcond=None)
    coefficients, *_ = np.linalg.lstsq(design[inliers], values[inliers], rcond=None)
    residuals = values - design @ coefficients
    n, p = int(inliers.sum()), 3
    normal = design[inliers].T @ design[inliers]
    if np.linalg.cond(normal) > 1e8:
        raise CircleFitError("the omega angles do not constrain a circle (they span too little of a turn)")
    dof = max(n - p, 1)
    variance = float(residuals[inliers] @ residuals[inliers]) / dof
    covariance = np.linalg.inv(normal) * variance
    residual_rms = float(np.sqrt(np.mean(residuals[inliers] ** 2)))
    return _circle_fit(coefficients, covariance, residual_rms, inliers)


def _circle_fit(coefficients: np.ndarray, covariance: np.ndarray, residual_rms: float, inliers: np.ndarray) -> CircleFit:
    """A :class:`CircleFit` from (c, a, b) and their covariance, propagated to r and alpha through the
    Jacobian of (r, alpha) with respect to (a, b)."""
    c, a, b = (float(v) for v in coefficients)
    r = float(np.hypot(a, b))
    if r > 0:
        jacobian = np.array([[a / r, b / r], [-b / r**2, a / r**2]])
        cov_ra = jacobian @ covariance[1:, 1:] @ jacobian.T
    else:
        cov_ra = np.full((2, 2), np.inf)
    return CircleFit(
        c=c,
        r=r,
        alpha_deg=float(np.rad2deg(np.arctan2(b, a))),
        c_sigma=float(np.sqrt(covariance[0, 0])),
        r_sigma=float(np.sqrt(cov_ra[0, 0])),
        alpha_sigma_deg=float(np.rad2deg(np.sqrt(cov_ra[1, 1]))),
        a=a,
        b=b,
        covariance_cab=covariance,
        residual_rms=residual_rms,
        inliers=inliers,
    )


def circle_through_points(omega_deg, values, *, sigma: float) -> CircleFit:
    """The circle through three or more points whose uncertainty is known (an operator's clicks, say).

    Least squares without outlier rejection; the covariance is ``sigma**2 (A^T A)^-1`` from the known
    measurement uncertainty, so three points (which a circle fits exactly) still give uncertainties.
    """
    omega_deg = np.asarray(omega_deg, dtype=float)
    values = np.asarray(values, dtype=float)
    if omega_deg.shape != values.shape or omega_deg.ndim != 1 or omega_deg.size < 3:
        raise CircleFitError(f"a circle needs at least 3 points at distinct angles, got omega {omega_deg.shape} and values {values.shape}")
    if not (np.isfinite(omega_deg).all() and np.isfinite(values).all()):
        raise CircleFitError("the points contain NaN or infinite values")
    if sigma <= 0:
        raise CircleFitError(f"sigma must be positive, got {sigma}")
    design = _design(omega_deg)
    normal = design.T @ design
    if np.linalg.cond(normal) > 1e8:
        raise CircleFitError("the omega angles do not constrain a circle (take them at least 30 degrees apart)")
    coefficients, *_ = np.linalg.lstsq(design, values, rcond=None)
    residuals = values - design @ coefficients
    covariance = np.linalg.inv(normal) * sigma**2
    return _circle_fit(coefficients, covariance, float(np.sqrt(np.mean(residuals**2))), np.ones(values.shape, dtype=bool))
