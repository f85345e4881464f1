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
true point's circle, and centring on it leaves the crystal off the axis. The slab fit
(:func:`mxsight.geometry.slab.fit_slab`) recovers the true circle (``a``, ``b``, ``c``, as
:func:`mxsight.geometry.centring.centring_move` needs) besides the film.

This module holds the model, its Jacobian and the fitted result (:class:`SlabFit`, with its covariance);
:mod:`mxsight.geometry.slab` fits it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

N_PARAMETERS = 7
PARAMETER_NAMES = ("c", "r", "alpha", "beta", "d_plus", "d_minus", "refractive_index")


def face_geometry(omega_rad: np.ndarray, beta_rad: float) -> tuple[np.ndarray, np.ndarray]:
    """(plus_face, theta_rad): whether the camera looks through the +normal face, and the angle from
    the view axis +Y to that face's outward normal (lab (Y, Z) = +-(cos(phi), -sin(phi)))."""
    phi = omega_rad + beta_rad
    normal_y, normal_z = np.cos(phi), -np.sin(phi)
    plus = normal_y >= 0  # as the renderer: at exact grazing it keeps the +normal face
    sign = np.where(plus, 1.0, -1.0)
    return plus, np.arctan2(sign * normal_z, sign * normal_y)


def shift_per_depth(theta_rad: np.ndarray, refractive_index: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    plus, theta = face_geometry(omega, np.deg2rad(beta_deg))
    g, _, _ = shift_per_depth(theta, refractive_index)
    return np.where(plus, d_plus, d_minus) * g


@dataclass(frozen=True)
class SlabFit:
    """Result of :func:`mxsight.geometry.slab.fit_slab`; lengths in the unit of the data (pixels usually),
    angles in degrees.

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


def model_values(params: np.ndarray, omega_rad: np.ndarray, shift_sign: float) -> np.ndarray:
    """The model's image coordinate at ``omega_rad`` for an internal parameter vector."""
    c, a, b, beta, d_plus, d_minus, n = params
    plus, theta = face_geometry(omega_rad, beta)
    g, _, _ = shift_per_depth(theta, n)
    return c + a * np.cos(omega_rad) + b * np.sin(omega_rad) + shift_sign * np.where(plus, d_plus, d_minus) * g


def model_jacobian(params: np.ndarray, omega_rad: np.ndarray, shift_sign: float) -> np.ndarray:
    """Analytic Jacobian of :func:`model_values` (the one-sided derivative where a point switches faces)."""
    _, _, _, beta, d_plus, d_minus, n = params
    plus, theta = face_geometry(omega_rad, beta)
    g, dg_dtheta, dg_dn = shift_per_depth(theta, n)
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


def fit_from_parameters(params: np.ndarray, omega_rad: np.ndarray, values: np.ndarray, inliers: np.ndarray, shift_sign: float) -> SlabFit:
    """A SlabFit from internal parameters: beta brought into [0, 180) (swapping the faces' depths for
    each half turn), covariance from the inlier Jacobian, propagated from (a, b) to (r, alpha)."""
    params = params.copy()
    turns = np.floor(params[3] / np.pi)
    params[3] -= turns * np.pi
    if int(turns) % 2:  # beta + 180 is the same film with its faces exchanged
        params[4], params[5] = params[5], params[4]
    residuals = model_values(params, omega_rad, shift_sign) - values
    n_in = int(inliers.sum())
    dof = n_in - N_PARAMETERS
    rss = float(residuals[inliers] @ residuals[inliers])
    variance = rss / dof if dof > 0 else np.inf
    jacobian = model_jacobian(params, omega_rad[inliers], shift_sign)
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
