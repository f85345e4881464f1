"""Where a sample point appears: goniometer kinematics and the orthographic projection onto the camera.

The camera looks along the lab's depth axis. The spindle runs along image columns (the pin enters
from the left), and the lab's vertical axis runs up the image. A sample point ``s`` = (x, u, w), given
in the sample (phi) frame, is first turned by the mini-kappa head, ``(x, u, w) = K(kappa) @ P(phi) @ s``
(see :func:`sample_rotation`), and then appears, for goniometer positions ``p``, at::

    X = x + p.alignment_y_mm
    Z = p.alignment_z_mm + (u + p.centring_x_mm) * cos(omega) - (w + p.centring_y_mm) * sin(omega)
    col = beam_col + X / pixel_size,  row = beam_row - Z / pixel_size

so the beam is at lab (X, Z) = (0, 0), and the rotation axis passes through it when alignment z is 0.
The omega, kappa and phi axes meet at the sample frame's origin, which kappa and phi therefore leave
in place; the centring table sits between omega and the kappa head. With kappa = phi = 0 no rotation is
applied at all, so those frames are bit-identical to a goniometer without a kappa head.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mxsight.sim.scene import Sample

CAMERA_SHAPE_PX = (1024, 1360)


KAPPA_AXIS_TILT_DEG = 24.0


KAPPA_AXIS_XUW = np.array([np.cos(np.deg2rad(KAPPA_AXIS_TILT_DEG)), 0.0, np.sin(np.deg2rad(KAPPA_AXIS_TILT_DEG))])
"""Unit kappa axis in the rotating frame (x, u, w): 24 degrees from the spindle in the plane that holds
the spindle and ``w`` (the one that faces the camera at omega = 0), as on an MK3-type mini-kappa. At
kappa = 180 the phi axis is 48 degrees from the spindle, the most the head can tilt it."""


@dataclass(frozen=True)
class GoniometerPositions:
    """Motor positions that decide what the camera sees (mm and degrees)."""

    omega_deg: float = 0.0
    centring_x_mm: float = 0.0
    centring_y_mm: float = 0.0
    alignment_y_mm: float = 0.0
    alignment_z_mm: float = 0.0
    kappa_deg: float = 0.0
    phi_deg: float = 0.0


def axis_rotation(axis_xuw: np.ndarray, angle_deg: float) -> np.ndarray:
    """Right-handed rotation matrix (Rodrigues) by ``angle_deg`` about the unit vector ``axis_xuw``."""
    k = np.asarray(axis_xuw, dtype=float)
    cross = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    angle = np.deg2rad(angle_deg)
    return np.eye(3) + np.sin(angle) * cross + (1.0 - np.cos(angle)) * (cross @ cross)


def sample_rotation(positions: GoniometerPositions) -> np.ndarray | None:
    """``K(kappa) @ P(phi)``, acting on column vectors (x, u, w), or None when kappa and phi are both 0.

    ``P`` turns about the x axis (the phi axis at kappa = 0) in the same sense as omega: a point that
    phi turns by an angle is seen where omega would put it after turning by that angle. ``K`` turns, in
    the same right-handed sense, about :data:`KAPPA_AXIS_XUW`. None keeps kappa = phi = 0 on the exact
    arithmetic of a goniometer without a kappa head.
    """
    if positions.kappa_deg == 0.0 and positions.phi_deg == 0.0:
        return None
    phi = axis_rotation(np.array([1.0, 0.0, 0.0]), positions.phi_deg)
    return axis_rotation(KAPPA_AXIS_XUW, positions.kappa_deg) @ phi


def sample_point_rotating_mm(point_xuw, positions: GoniometerPositions) -> np.ndarray:
    """Sample-frame point(s) (x, u, w in mm; shape (3,) or (N, 3)) after kappa and phi, before the
    centring motors and omega: the truth that plans and benchmarks compare against."""
    points = np.array(point_xuw, dtype=float)
    rotation = sample_rotation(positions)
    return points if rotation is None else points @ rotation.T


def sample_point_lab_mm(point_xuw, positions: GoniometerPositions) -> np.ndarray:
    """Lab (X along the spindle, Y towards the camera, Z up; mm, beam at the origin) of sample-frame
    point(s) (x, u, w); shape (3,) or (N, 3) as given."""
    points = np.asarray(point_xuw, dtype=float)
    lab = _Frame(positions).lab_points(*np.atleast_2d(points).T)
    return lab[0] if points.ndim == 1 else lab


@dataclass(frozen=True)
class CameraGeometry:
    """Where the camera looks: image size, pixel size and the beam's pixel position (row, col)."""

    pixel_size_um: float
    beam_position_px: tuple[float, float]
    shape_px: tuple[int, int] = CAMERA_SHAPE_PX

    @property
    def pixel_size_mm(self) -> float:
        return self.pixel_size_um / 1000.0


class _Frame:
    """Sample frame to lab: kappa and phi (when not both 0), then centring, omega and alignment."""

    def __init__(self, positions: GoniometerPositions):
        self.positions = positions
        self.omega_rad = np.deg2rad(positions.omega_deg)
        self.rotation = sample_rotation(positions)

    @property
    def sample_axis_tilted(self) -> bool:
        """Whether the sample's x axis is no longer parallel to the spindle (kappa is not 0)."""
        return self.positions.kappa_deg != 0.0

    def rotating(self, x_mm, u_mm, w_mm) -> tuple:
        """Sample-frame coordinates after kappa and phi; with no rotation they are returned as given."""
        if self.rotation is None:
            return x_mm, u_mm, w_mm
        x, u, w = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x_mm, u_mm, w_mm)))
        r = self.rotation
        return (
            r[0, 0] * x + r[0, 1] * u + r[0, 2] * w,
            r[1, 0] * x + r[1, 1] * u + r[1, 2] * w,
            r[2, 0] * x + r[2, 1] * u + r[2, 2] * w,
        )

    def lab_points(self, x_mm, u_mm, w_mm) -> np.ndarray:
        """Sample-frame points as lab (X along the spindle, Y towards the camera, Z up), N x 3."""
        p = self.positions
        x_mm, u_mm, w_mm = self.rotating(x_mm, u_mm, w_mm)
        uu = np.asarray(u_mm, dtype=float) + p.centring_x_mm
        ww = np.asarray(w_mm, dtype=float) + p.centring_y_mm
        lab_x = np.asarray(x_mm, dtype=float) + p.alignment_y_mm
        lab_y = uu * np.sin(self.omega_rad) + ww * np.cos(self.omega_rad)
        lab_z = p.alignment_z_mm + uu * np.cos(self.omega_rad) - ww * np.sin(self.omega_rad)
        return np.column_stack(np.broadcast_arrays(lab_x, lab_y, lab_z))

    def lab_direction(self, direction_xuw: np.ndarray) -> np.ndarray:
        """A sample-frame direction (dx, du, dw) in lab coordinates (X, Y, Z); a pair (du, dw) is read
        as (0, du, dw)."""
        direction = np.asarray(direction_xuw, dtype=float)
        if direction.shape == (2,):
            direction = np.array([0.0, direction[0], direction[1]])
        if self.rotation is not None:
            direction = self.rotation @ direction
        dx, du, dw = direction
        sin_omega, cos_omega = np.sin(self.omega_rad), np.cos(self.omega_rad)
        return np.array([dx, du * sin_omega + dw * cos_omega, du * cos_omega - dw * sin_omega])

    def vertical_component(self, direction_xuw: np.ndarray) -> float:
        """Lab vertical component of a sample-frame direction (dx, du, dw) or (du, dw)."""
        return float(self.lab_direction(direction_xuw)[2])


class Projector(_Frame):
    """Maps sample-frame points (mm) to image pixels for given goniometer positions."""

    def __init__(self, camera: CameraGeometry, positions: GoniometerPositions):
        super().__init__(positions)
        self.camera = camera

    def lab(self, x_mm, u_mm, w_mm) -> tuple[np.ndarray, np.ndarray]:
        """Lab (X, Z) in mm of sample-frame points."""
        p = self.positions
        x_mm, u_mm, w_mm = self.rotating(x_mm, u_mm, w_mm)
        uu = np.asarray(u_mm) + p.centring_x_mm
        ww = np.asarray(w_mm) + p.centring_y_mm
        lab_x = np.asarray(x_mm) + p.alignment_y_mm
        lab_z = p.alignment_z_mm + uu * np.cos(self.omega_rad) - ww * np.sin(self.omega_rad)
        return lab_x, lab_z

    def pixels(self, x_mm, u_mm, w_mm) -> tuple[np.ndarray, np.ndarray]:
        """(row, col) in pixels of sample-frame points."""
        lab_x, lab_z = self.lab(x_mm, u_mm, w_mm)
        beam_row, beam_col = self.camera.beam_position_px
        return beam_row - lab_z / self.camera.pixel_size_mm, beam_col + lab_x / self.camera.pixel_size_mm

    def pixels_of_lab(self, lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        beam_row, beam_col = self.camera.beam_position_px
        return beam_row - lab[:, 2] / self.camera.pixel_size_mm, beam_col + lab[:, 0] / self.camera.pixel_size_mm

    def sample_axis_px(self, sample: Sample) -> tuple[float, float, float, float]:
        """The sample's axis in the image: (row, col) of its point at x = 0 and the (row, col) step in
        pixels per mm along it."""
        row, col = self.pixels(0.0, sample.offset_u_mm, sample.offset_w_mm)
        direction = self.lab_direction(np.array([1.0, 0.0, 0.0]))
        pixel_mm = self.camera.pixel_size_mm
        return float(row), float(col), float(-direction[2] / pixel_mm), float(direction[0] / pixel_mm)
