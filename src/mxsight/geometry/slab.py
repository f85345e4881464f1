"""The slab refraction movement model: a point inside the loop's liquid film, seen through its faces.

A crystal inside the film is not seen where it is: the camera looks through the film face that turns
towards it, and Snell's law moves the image along that face. In the image coordinate perpendicular to
the spindle the tracked point then moves as::

    v(omega) = c + r*cos(omega - alpha) + shift_sign * D(omega; beta, d_plus, d_minus, n)

where ``c + r*cos(omega - alpha)`` is the true point (the circle model), ``beta`` the loop plane angle
(film normal ``(-sin beta, cos beta)`` in the rotating (u, w) plane), ``d_plus`` / ``d_minus`` the
point's depths below the "+normal" and "-normal" faces, and ``n`` the film's refractive index.
``D`` is the lab-vertical (Z, up) shift of the apparent point::

    phi = omega + beta;  the camera looks through the +normal face when cos(phi) >= 0, else the -normal one
    theta = angle from the view axis +Y to the camera-facing normal, in [-90, 90] degrees
    i = arcsin(sin(theta) / n)
    D = d * sin(theta - i) / cos(i) = d * sin(theta) * (1 - cos(theta) / sqrt(n^2 - sin(theta)^2))

with d the depth below the face in use. This is what the simulator's ray tracer
(:func:`mxsight.sim.optics.apparent_positions`) computes; ``tests/test_slab_fit.py`` checks it to 1e-9 mm.
``shift_sign`` is -1 when the image coordinate decreases as Z grows (the simulated beamline, or
``-CentringGeometry.perpendicular_sign`` in general).

Since the refraction shift through one face differs from the shift through the other whenever the
point is off the mid-plane, ``D`` has odd harmonics: a circle fitted to such a track is pulled off the
true point's circle, and centring on it leaves the crystal off the axis. The slab fit recovers the true
circle (``a``, ``b``, ``c``, as :func:`mxsight.geometry.centring.centring_move` needs) besides the film.

The fit is non-linear and multimodal in beta (the face switch makes ``D`` discontinuous in beta), but
linear in (c, a, b, d_plus, d_minus) once beta and n are fixed: it is started from the best few points
of a (beta, n) grid, each with those five solved exactly, and run with a robust loss; outliers are then
rejected and the final fit is ordinary least squares on the inliers, whose Jacobian gives the covariance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from mxsight.geometry.circle import robust_sigma

MIN_POINTS = 8
MIN_COVERAGE_DEG = 180.0
N_PARAMETERS = 7
PARAMETER_NAMES = ("c", "r", "alpha", "beta", "d_plus", "d_minus", "refractive_index")
GRID_BETA_STEPS = 72  # film orientations of the start grid, 2.5 degrees apart over 180
GRID_INDEX_STEPS = 3  # refractive indices of the start grid, evenly inside the bounds
GRID_MIN_SEPARATION = 6  # grid steps (15 degrees) between the orientations of two starts


class SlabFitError(ValueError):
    """The data cannot constrain a slab fit (too few points, mismatched shapes, too little omega coverage)."""


def _face_geometry(omega_rad: np.ndarray, beta_rad: float) -> tuple[np.ndarray, np.ndarray]:
    """(plus_face, theta_rad): whether the camera looks through the +normal face, and the angle from
    the view axis +Y to that face's outward normal (lab (Y, Z) = +-(cos(phi), -sin(phi)))."""
    phi = omega_rad + beta_rad
    normal_y, normal_z = np.cos(phi), -np.sin(phi)
    plus = normal_y >= 0  # as the renderer: at exact grazing it keeps the +normal face
    sign = np.where(plus, 1.0, -1.0)
    return plus, np.arctan2(sign * normal_z, sign * normal_y)


def _shape(theta_rad: np.ndarray, refractive_index: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """g = sin(theta - i)/cos(i) (shift per unit depth) with its derivatives by theta and by n."""
    sin_t, cos_t = np.sin(theta_rad), np.cos(theta_rad)
    q = np.sqrt(refractive_index**2 - sin_t**2)
    g = sin_t - sin_t * cos_t / q
    dg_dtheta = cos_t - (cos_t**2 - sin_t**2) / q - (sin_t * cos_t) ** 2 / q**3
    dg_dn = refractive_index * sin_t * cos_t / q**3
    return g, dg_dtheta, dg_dn


def slab_displacement(omega_deg, beta_deg: float, d_plus: float, d_minus: float, refractive_index: float) -> np.ndarray:
    """Lab-vertical (Z, up) shift D of a point at depths ``d_plus`` / ``d_minus`` below the film's faces,
    seen through the camera-facing face; in the unit of the depths. (The image term is shift_sign * D.)"""
    omega = np.deg2rad(np.asarray(omega_deg, dtype=float))
    plus, theta = _face_geometry(omega, np.deg2rad(beta_deg))
    g, _, _ = _shape(theta, refractive_index)
    return np.where(plus, d_plus, d_minus) * g


@dataclass(frozen=True)
class SlabFit:
    """Result of :func:`fit_slab`; lengths in the unit of the data (pixels usually), angles in degrees.

    ``covariance`` is 7x7 in the order (c, r, alpha_rad, beta_rad, d_plus, d_minus, n); a parameter the
    data leave undetermined (e.g. beta and n when the fitted depths are zero) has infinite variance.
    ``a``, ``b``, ``c`` and ``covariance_cab`` describe the true point's circle, as for a CircleFit.
    """

    c: float
    r: float
    alpha_deg: float
    beta_deg: float
    d_plus: float
    d_minus: float
    refractive_index: float
    c_sigma: float
    r_sigma: float
    alpha_sigma_deg: float
    beta_sigma_deg: float
    d_plus_sigma: float
    d_minus_sigma: float
    refractive_index_sigma: float
    covariance: np.ndarray
    covariance_cab: np.ndarray
    residual_rms: float
    inliers: np.ndarray
    shift_sign: float = -1.0
    cost: float = field(default=float("nan"), compare=False)
    n_parameters: int = N_PARAMETERS

    @property
    def a(self) -> float:
        return float(self.r * np.cos(np.deg2rad(self.alpha_deg)))

    @property
    def b(self) -> float:
        return float(self.r * np.sin(np.deg2rad(self.alpha_deg)))

    @property
    def n_inliers(self) -> int:
        return int(self.inliers.sum())

    @property
    def sigmas(self) -> dict[str, float]:
        """One-sigma uncertainties by parameter name (angles in degrees)."""
        return {
            "c": self.c_sigma,
            "r": self.r_sigma,
            "alpha": self.alpha_sigma_deg,
            "beta": self.beta_sigma_deg,
            "d_plus": self.d_plus_sigma,
            "d_minus": self.d_minus_sigma,
            "refractive_index": self.refractive_index_sigma,
        }

    def displacement(self, omega_deg) -> np.ndarray:
        """The refraction term of the model alone, with its sign in the data (shift_sign * D)."""
        return self.shift_sign * slab_displacement(omega_deg, self.beta_deg, self.d_plus, self.d_minus, self.refractive_index)

    def predict(self, omega_deg) -> np.ndarray:
        omega = np.deg2rad(np.asarray(omega_deg, dtype=float))
        return self.c + self.a * np.cos(omega) + self.b * np.sin(omega) + self.displacement(omega_deg)


# Internal parameter vector: (c, a, b, beta_rad, d_plus, d_minus, n); linear in (c, a, b), which keeps
# the fit well conditioned when the point is near the axis (r ~ 0, alpha undetermined).


def _model(params: np.ndarray, omega_rad: np.ndarray, shift_sign: float) -> np.ndarray:
    c, a, b, beta, d_plus, d_minus, n = params
    plus, theta = _face_geometry(omega_rad, beta)
    g, _, _ = _shape(theta, n)
    return c + a * np.cos(omega_rad) + b * np.sin(omega_rad) + shift_sign * np.where(plus, d_plus, d_minus) * g


def _jacobian(params: np.ndarray, omega_rad: np.ndarray, shift_sign: float) -> np.ndarray:
    """Analytic Jacobian of :func:`_model` (the one-sided derivative where a point switches faces)."""
    _, _, _, beta, d_plus, d_minus, n = params
    plus, theta = _face_geometry(omega_rad, beta)
    g, dg_dtheta, dg_dn = _shape(theta, n)
    depth = np.where(plus, d_plus, d_minus)
    return np.column_stack(
        [
            np.ones_like(omega_rad),
            np.cos(omega_rad),
            np.sin(omega_rad),
            -shift_sign * depth * dg_dtheta,  # theta = -(omega + beta) + k*pi
            shift_sign * np.where(plus, g, 0.0),
            shift_sign * np.where(plus, 0.0, g),
            shift_sign * depth * dg_dn,
        ]
    )


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
    plus, theta = _face_geometry(omega_rad[None, :], betas[:, None])  # (beta, point)
    g = _shape(theta[:, None, :], indices[None, :, None])[0]  # (beta, index, point)
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
        lambda p: _model(p, omega_rad, shift_sign) - values,
        x0,
        jac=lambda p: _jacobian(p, omega_rad, shift_sign),
        bounds=(lower, upper),
        loss=loss,
        f_scale=f_scale,
        method="trf",
        x_scale="jac",
        max_nfev=400,
    )


def _covariance(jacobian: np.ndarray, variance: float, rcond: float = 1e-7) -> np.ndarray:
    """variance * (J^T J)^-1 by a column-scaled SVD; parameters with a component along a direction the
    data do not constrain (zero or tiny singular value) get infinite variance and covariance."""
    norms = np.linalg.norm(jacobian, axis=0)
    safe = np.where(norms > 0, norms, 1.0)
    _, singular, vt = np.linalg.svd(jacobian / safe, full_matrices=False)
    good = singular > rcond * singular.max() if singular.size and singular.max() > 0 else np.zeros_like(singular, bool)
    inverse = (vt[good].T / singular[good] ** 2) @ vt[good]
    covariance = variance * inverse / np.outer(safe, safe)
    undetermined = (norms == 0) | (np.abs(vt[~good]).max(axis=0, initial=0.0) > 1e-3)
    covariance[undetermined, :] = np.inf
    covariance[:, undetermined] = np.inf
    return covariance


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
    residuals = _model(params, omega_rad, shift_sign) - values
    f_scale = max(robust_sigma(residuals[finite]), min_sigma)
    params = _solve(params, omega_rad[finite], values[finite], shift_sign, lower, upper, "soft_l1", f_scale).x

    # Outlier rejection, then least squares on the inliers.
    inliers = finite.copy()
    for _ in range(max_iterations):
        residuals = _model(params, omega_rad, shift_sign) - values
        sigma = max(robust_sigma(residuals[inliers]), min_sigma)
        updated = finite & (np.abs(residuals) <= rejection_sigma * sigma)
        if updated.sum() < MIN_POINTS:
            break
        params = _solve(params, omega_rad[updated], values[updated], shift_sign, lower, upper, "linear", 1.0).x
        if np.array_equal(updated, inliers):
            break
        inliers = updated
    return _build_fit(params, omega_rad, values, inliers, shift_sign)


def _build_fit(params: np.ndarray, omega_rad: np.ndarray, values: np.ndarray, inliers: np.ndarray, shift_sign: float) -> SlabFit:
    """A SlabFit from internal parameters: beta brought into [0, 180) (swapping the faces' depths for
    each half turn), covariance from the inlier Jacobian, propagated from (a, b) to (r, alpha)."""
    params = params.copy()
    turns = np.floor(params[3] / np.pi)
    params[3] -= turns * np.pi
    if int(turns) % 2:  # beta + 180 is the same film with its faces exchanged
        params[4], params[5] = params[5], params[4]
    residuals = _model(params, omega_rad, shift_sign) - values
    n_in = int(inliers.sum())
    dof = n_in - N_PARAMETERS
    rss = float(residuals[inliers] @ residuals[inliers])
    variance = rss / dof if dof > 0 else np.inf
    jacobian = _jacobian(params, omega_rad[inliers], shift_sign)
    internal = _covariance(jacobian, variance) if np.isfinite(variance) else np.full((7, 7), np.inf)

    c, a, b, beta, d_plus, d_minus, n = (float(v) for v in params)
    r, alpha = float(np.hypot(a, b)), float(np.arctan2(b, a))
    transform = np.eye(N_PARAMETERS)
    if r > 0:
        transform[1:3, 1:3] = [[a / r, b / r], [-b / r**2, a / r**2]]
        with np.errstate(invalid="ignore"):
            finite_part = np.where(np.isfinite(internal), internal, 0.0)
            covariance = transform @ finite_part @ transform.T
        infinite = ~np.isfinite(np.diag(internal))
        infinite[1:3] = infinite[1:3].any()
        covariance[infinite, :] = np.inf
        covariance[:, infinite] = np.inf
    else:
        covariance = internal.copy()
        covariance[1:3, :] = np.inf
        covariance[:, 1:3] = np.inf
    sigma = np.sqrt(np.diag(covariance))
    return SlabFit(
        c=c,
        r=r,
        alpha_deg=float(np.rad2deg(alpha)),
        beta_deg=float(np.rad2deg(beta)) % 180.0,
        d_plus=d_plus,
        d_minus=d_minus,
        refractive_index=n,
        c_sigma=float(sigma[0]),
        r_sigma=float(sigma[1]),
        alpha_sigma_deg=float(np.rad2deg(sigma[2])),
        beta_sigma_deg=float(np.rad2deg(sigma[3])),
        d_plus_sigma=float(sigma[4]),
        d_minus_sigma=float(sigma[5]),
        refractive_index_sigma=float(sigma[6]),
        covariance=covariance,
        covariance_cab=internal[:3, :3].copy(),
        residual_rms=float(np.sqrt(rss / n_in)) if n_in else float("nan"),
        inliers=inliers,
        shift_sign=float(shift_sign),
        cost=0.5 * rss,
    )


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
