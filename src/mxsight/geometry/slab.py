"""Fitting the slab refraction movement model (:mod:`mxsight.geometry.slab_model`) to a tracked point.

The fit is non-linear and multimodal in beta (the face switch makes ``D`` discontinuous in beta), but
linear in (c, a, b, d_plus, d_minus) once beta and n are fixed: it is started from the best few points
of a (beta, n) grid, each with those five solved exactly, and run with a robust loss; outliers are then
rejected and the final fit is ordinary least squares on the inliers, whose Jacobian gives the covariance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import least_squares

from mxsight.geometry.circle import robust_sigma
from mxsight.geometry.slab_model import (
    N_PARAMETERS,
    PARAMETER_NAMES,
    SlabFit,
    face_geometry,
    fit_from_parameters,
    model_jacobian,
    model_values,
    shift_per_depth,
    slab_displacement,
)

__all__ = [
    "MIN_COVERAGE_DEG",
    "MIN_POINTS",
    "N_PARAMETERS",
    "PARAMETER_NAMES",
    "SlabFit",
    "SlabFitError",
    "bootstrap_sigmas",
    "fit_slab",
    "omega_coverage_deg",
    "slab_displacement",
]

MIN_POINTS = 8
MIN_COVERAGE_DEG = 180.0
GRID_BETA_STEPS = 72  # film orientations of the start grid, 2.5 degrees apart over 180
GRID_INDEX_STEPS = 3  # refractive indices of the start grid, evenly inside the bounds
GRID_MIN_SEPARATION = 6  # grid steps (15 degrees) between the orientations of two starts


class SlabFitError(ValueError):
    """The data cannot constrain a slab fit (too few points, mismatched shapes, too little omega coverage)."""


def omega_coverage_deg(omega_deg: np.ndarray) -> float:
    """Degrees of the turn the angles cover: 360 minus the largest circular gap between them."""
    angles = np.sort(np.mod(np.asarray(omega_deg, dtype=float), 360.0))
    if angles.size < 2:
        return 0.0
    gaps = np.diff(np.concatenate([angles, angles[:1] + 360.0]))
    return float(360.0 - gaps.max())


def _check_input(omega_deg, values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    omega_deg = np.asarray(omega_deg, dtype=float)
    values = np.asarray(values, dtype=float)
    if omega_deg.shape != values.shape or omega_deg.ndim != 1:
        raise SlabFitError(f"omega and values must be 1-D arrays of one length, got {omega_deg.shape} and {values.shape}")
    finite = np.isfinite(omega_deg) & np.isfinite(values)
    if finite.sum() < MIN_POINTS:
        raise SlabFitError(f"a slab fit needs at least {MIN_POINTS} finite points, got {int(finite.sum())}")
    coverage = omega_coverage_deg(omega_deg[finite])
    if coverage < MIN_COVERAGE_DEG:
        raise SlabFitError(
            f"a slab fit needs omega coverage of at least {MIN_COVERAGE_DEG:.0f} degrees (both film faces), "
            f"the angles cover {coverage:.1f}"
        )
    return omega_deg, values, finite


def _given_start(start: SlabFit | Sequence[float]) -> list[np.ndarray]:
    """The internal parameter vector of a given start (a SlabFit, or (c, r, alpha_deg, beta_deg,
    d_plus, d_minus, n))."""
    if isinstance(start, SlabFit):
        return [np.array([start.c, start.a, start.b, np.deg2rad(start.beta_deg), start.d_plus, start.d_minus, start.refractive_index])]
    c, r, alpha_deg, beta_deg, d_plus, d_minus, n = (float(v) for v in start)
    alpha = np.deg2rad(alpha_deg)
    return [np.array([c, r * np.cos(alpha), r * np.sin(alpha), np.deg2rad(beta_deg), d_plus, d_minus, n])]


def _grid_starts(
    omega_rad: np.ndarray,
    values: np.ndarray,
    shift_sign: float,
    index_bounds: tuple[float, float],
    depth_high: float,
    f_scale: float,
    n_starts: int,
) -> list[np.ndarray]:
    """The ``n_starts`` best of a grid over (beta, n), each with its linear parameters solved exactly:
    with the film's orientation and index fixed the model is linear in (c, a, b, d_plus, d_minus), so
    one batched least-squares solve per grid point ranks the whole grid (by the robust stage's own
    soft-L1 cost) for the price of one non-linear fit. The starts keep distinct orientations (beta at
    least ``GRID_MIN_SEPARATION`` grid steps apart, modulo 180 degrees)."""
    n_beta = GRID_BETA_STEPS
    betas = np.arange(n_beta) * np.pi / n_beta  # beta + 180 is the same film with its faces exchanged
    indices = np.linspace(*index_bounds, GRID_INDEX_STEPS + 2)[1:-1]
    plus, theta = face_geometry(omega_rad[None, :], betas[:, None])  # (beta, point)
    g = shift_per_depth(theta[:, None, :], indices[None, :, None])[0]  # (beta, index, point)
    plus = np.broadcast_to(plus[:, None, :], g.shape)
    ones = np.ones_like(g)
    design = np.stack(
        [ones, ones * np.cos(omega_rad), ones * np.sin(omega_rad), shift_sign * np.where(plus, g, 0.0), shift_sign * np.where(plus, 0.0, g)],
        axis=-1,
    )
    linear = np.einsum("bkjp,p->bkj", np.linalg.pinv(design), values)
    linear[..., 3:] = np.clip(linear[..., 3:], 0.0, depth_high)
    residuals = np.einsum("bkpj,bkj->bkp", design, linear) - values
    cost = np.sum(np.sqrt(1.0 + (residuals / f_scale) ** 2) - 1.0, axis=-1)  # soft-L1, up to a factor 2
    best_index = np.argmin(cost, axis=1)
    best_cost = cost[np.arange(n_beta), best_index]
    starts: list[np.ndarray] = []
    taken: list[int] = []
    for k in np.argsort(best_cost):
        if any(min(abs(k - j), n_beta - abs(k - j)) < GRID_MIN_SEPARATION for j in taken):
            continue
        c, a, b, d_plus, d_minus = linear[k, best_index[k]]
        starts.append(np.array([c, a, b, betas[k], d_plus, d_minus, indices[best_index[k]]]))
        taken.append(int(k))
        if len(starts) == n_starts:
            break
    return starts


def _solve(
    x0: np.ndarray,
    omega_rad: np.ndarray,
    values: np.ndarray,
    shift_sign: float,
    lower: np.ndarray,
    upper: np.ndarray,
    loss: str,
    f_scale: float,
):
    x0 = np.clip(x0, lower, upper)
    return least_squares(
        lambda p: model_values(p, omega_rad, shift_sign) - values,
        x0,
        jac=lambda p: model_jacobian(p, omega_rad, shift_sign),
        bounds=(lower, upper),
        loss=loss,
        f_scale=f_scale,
        method="trf",
        x_scale="jac",
        max_nfev=400,
    )


def fit_slab(
    omega_deg,
    values,
    *,
    shift_sign: float = -1.0,
    refractive_index_bounds: tuple[float, float] = (1.25, 1.45),
    max_depth: float | None = None,
    start: SlabFit | Sequence[float] | None = None,
    rejection_sigma: float = 3.5,
    n_starts: int = 3,
    max_iterations: int = 5,
    min_sigma: float = 1e-6,
) -> SlabFit:
    """Fit the slab refraction model to ``values`` (e.g. the perpendicular image coordinate, pixels)
    against ``omega_deg``.

    Without ``start`` the robust stage runs from the ``n_starts`` best points of a grid over the film's
    orientation and index (:func:`_grid_starts`); ``start`` (a SlabFit, or (c, r, alpha_deg, beta_deg,
    d_plus, d_minus, n)) replaces them;
    ``max_depth`` bounds the depths (e.g. the film thickness in pixels, when known). The robust stage
    uses a soft-L1 loss scaled by the residuals' robust sigma; points beyond ``rejection_sigma`` robust
    sigmas are outliers, and the final fit is least squares on the inliers. Uncertainties are
    ``inv(J^T J)`` times the inlier residual variance (n_inliers - 7 degrees of freedom).
    """
    omega_deg, values, finite = _check_input(omega_deg, values)
    n_low, n_high = refractive_index_bounds
    if not 1.0 < n_low < n_high:
        raise SlabFitError(f"refractive_index_bounds must satisfy 1 < low < high, got {refractive_index_bounds}")
    depth_high = np.inf if max_depth is None else float(max_depth)
    lower = np.array([-np.inf, -np.inf, -np.inf, -np.inf, 0.0, 0.0, n_low])
    upper = np.array([np.inf, np.inf, np.inf, np.inf, depth_high, depth_high, n_high])
    omega_rad = np.deg2rad(omega_deg)
    # Robust stage: every start with a soft-L1 loss on all finite points; keep the lowest cost.
    f_scale = max(robust_sigma(values[finite] - np.median(values[finite])), min_sigma)
    if start is None:
        starts = _grid_starts(omega_rad[finite], values[finite], shift_sign, (n_low, n_high), depth_high, f_scale, n_starts)
    else:
        starts = _given_start(start)
    best = None
    for x0 in starts:
        result = _solve(x0, omega_rad[finite], values[finite], shift_sign, lower, upper, "soft_l1", f_scale)
        if best is None or result.cost < best.cost:
            best = result
    params = best.x
    # Rescale the loss to the best fit's own residuals and polish (the first scale came from the data's spread).
    residuals = model_values(params, omega_rad, shift_sign) - values
    f_scale = max(robust_sigma(residuals[finite]), min_sigma)
    params = _solve(params, omega_rad[finite], values[finite], shift_sign, lower, upper, "soft_l1", f_scale).x

    # Outlier rejection, then least squares on the inliers.
    inliers = finite.copy()
    for _ in range(max_iterations):
        residuals = model_values(params, omega_rad, shift_sign) - values
        sigma = max(robust_sigma(residuals[inliers]), min_sigma)
        updated = finite & (np.abs(residuals) <= rejection_sigma * sigma)
        if updated.sum() < MIN_POINTS:
            break
        params = _solve(params, omega_rad[updated], values[updated], shift_sign, lower, upper, "linear", 1.0).x
        if np.array_equal(updated, inliers):
            break
        inliers = updated
    return fit_from_parameters(params, omega_rad, values, inliers, shift_sign)


def bootstrap_sigmas(omega_deg, values, fit: SlabFit, *, n_resamples: int = 100, seed: int = 0) -> dict[str, float]:
    """Standard deviations of the seven parameters over a residual bootstrap of ``fit``, to check its
    Jacobian uncertainties: the inlier residuals (rescaled by sqrt(n / (n - 7)) for the degrees of
    freedom the fit used) are resampled onto the fitted curve and refitted from ``fit``.

    Angles in degrees (alpha wrapped around the fitted value, beta modulo 180 around it, with the
    faces' depths exchanged accordingly, as in :func:`fit_slab`)."""
    omega_deg = np.asarray(omega_deg, dtype=float)
    values = np.asarray(values, dtype=float)
    omega = omega_deg[fit.inliers]
    fitted = fit.predict(omega)
    residuals = values[fit.inliers] - fitted
    n = residuals.size
    residuals = (residuals - residuals.mean()) * np.sqrt(n / max(n - N_PARAMETERS, 1))
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_resamples):
        resampled = fitted + rng.choice(residuals, n, replace=True)
        try:
            refit = fit_slab(omega, resampled, shift_sign=fit.shift_sign, start=fit, rejection_sigma=np.inf)
        except SlabFitError:
            continue
        beta_step = refit.beta_deg - fit.beta_deg
        half_turns = int(np.round(beta_step / 180.0))
        d_plus, d_minus = (refit.d_minus, refit.d_plus) if half_turns % 2 else (refit.d_plus, refit.d_minus)
        draws.append(
            [
                refit.c,
                refit.r,
                (refit.alpha_deg - fit.alpha_deg + 180.0) % 360.0 - 180.0,
                beta_step - 180.0 * half_turns,
                d_plus,
                d_minus,
                refit.refractive_index,
            ]
        )
    spread = np.std(np.array(draws), axis=0, ddof=1) if len(draws) > 1 else np.full(N_PARAMETERS, np.nan)
    return {name: float(value) for name, value in zip(PARAMETER_NAMES, spread)}
