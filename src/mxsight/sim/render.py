"""Orthographic image formation of a :class:`~mxsight.sim.scene.Sample` on a horizontal spindle.

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
Masks are exact projections of the 3-D solids (to the pixel grid); the image is the background
multiplied by each solid's transmission, plus the light the sample reflects or scatters where
``Optics`` says so (front light, dark field).
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage as ndi
from scipy.spatial import ConvexHull
from skimage.draw import disk as skdisk
from skimage.draw import line as skline

from mxsight.notions import NOTIONS
from mxsight.sim.appearance import drop_lens, edge_glow, polished_pin, sample_box, vignetting
from mxsight.sim.optics import apparent_positions
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


@dataclass
class RenderedFrame:
    """One simulated frame with its exact labels."""

    image: np.ndarray
    masks: dict[str, np.ndarray]
    click_px: tuple[float, float]
    loop_centre_px: tuple[float, float]
    omega_deg: float


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


def _polygon_mask(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Filled convex hull of the given pixel points: the pixels whose centres (integer coordinates, as
    everywhere in the renderer) lie inside it, so a mask's centroid is where its points project."""
    mask = np.zeros(shape, dtype=bool)
    points = np.column_stack([rows, cols])
    try:
        hull = ConvexHull(points)
        vertices = points[hull.vertices]
    except Exception:  # degenerate (collinear) points: the segment between the extreme points
        ends = points[[np.argmin(points[:, 0] + points[:, 1]), np.argmax(points[:, 0] + points[:, 1])]]
        rr, cc = skline(*np.round(ends[0]).astype(int), *np.round(ends[1]).astype(int))
        inside = (rr >= 0) & (rr < shape[0]) & (cc >= 0) & (cc < shape[1])
        mask[rr[inside], cc[inside]] = True
        return mask
    return _fill_half_planes(hull.equations, vertices, shape)


def _fill_half_planes(equations: np.ndarray, vertices: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixels whose centres satisfy every ``a*row + b*col + d <= 0`` (a convex hull's facets): per row
    the columns between the tightest lower and upper bounds, compared at once over the bounding box."""
    mask = np.zeros(shape, dtype=bool)
    r0, r1 = max(int(np.ceil(vertices[:, 0].min() - 1e-9)), 0), min(int(np.floor(vertices[:, 0].max() + 1e-9)), shape[0] - 1)
    c0, c1 = max(int(np.ceil(vertices[:, 1].min() - 1e-9)), 0), min(int(np.floor(vertices[:, 1].max() + 1e-9)), shape[1] - 1)
    if r0 > r1 or c0 > c1:
        return mask
    rows = np.arange(r0, r1 + 1, dtype=float)[:, None]
    a, b, d = equations[:, 0][None, :], equations[:, 1][None, :], equations[:, 2][None, :]
    slack = -d - a * rows + 1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = slack / b
    upper = np.where(b > 0, bound, np.inf).min(axis=1)
    lower = np.where(b < 0, bound, -np.inf).max(axis=1)
    feasible = np.all(np.where(b == 0, slack >= 0, True), axis=1)
    cols = np.arange(c0, c1 + 1, dtype=float)[None, :]
    mask[r0 : r1 + 1, c0 : c1 + 1] = feasible[:, None] & (cols >= lower[:, None]) & (cols <= upper[:, None])
    return mask


def _inner_edge(mask: np.ndarray, width_px: int) -> np.ndarray:
    """The band of ``mask`` within ``width_px`` of its boundary, computed on the mask's bounding box."""
    edge = np.zeros_like(mask)
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if not rows.size:
        return edge
    r0, r1 = max(rows[0] - 1, 0), min(rows[-1] + 2, mask.shape[0])
    c0, c1 = max(cols[0] - 1, 0), min(cols[-1] + 2, mask.shape[1])
    crop = mask[r0:r1, c0:c1]
    edge[r0:r1, c0:c1] = crop & ~ndi.binary_erosion(crop, iterations=width_px)
    return edge


def _tube_mask(rows: np.ndarray, cols: np.ndarray, radius_px: float, shape: tuple[int, int]) -> np.ndarray:
    """Projection of a tube of ``radius_px`` around a curve: the union of discs centred on its points."""
    mask = np.zeros(shape, dtype=bool)
    pad = int(np.ceil(radius_px)) + 2
    r0 = max(int(np.floor(rows.min())) - pad, 0)
    r1 = min(int(np.ceil(rows.max())) + pad + 1, shape[0])
    c0 = max(int(np.floor(cols.min())) - pad, 0)
    c1 = min(int(np.ceil(cols.max())) + pad + 1, shape[1])
    if r0 >= r1 or c0 >= c1:
        return mask
    curve = np.zeros((r1 - r0, c1 - c0), dtype=bool)
    rr = np.round(rows).astype(int) - r0
    cc = np.round(cols).astype(int) - c0
    inside = (rr >= 0) & (rr < curve.shape[0]) & (cc >= 0) & (cc < curve.shape[1])
    curve[rr[inside], cc[inside]] = True
    if not curve.any():
        return mask
    mask[r0:r1, c0:c1] = ndi.distance_transform_edt(~curve) <= radius_px
    return mask


REVOLUTION_REACH_MM = 20.0
"""Solids of revolution that run on without end (the pin's base, a capillary) are cut this far along
their axis from the origin, beyond any field of view."""
PROFILE_STEP_PX = 0.5
PROFILE_TOLERANCE_PX = 0.05


def _revolution_mask(
    projector: Projector, sample: Sample, x_start_mm: float, x_end_mm: float, radius_mm, shape: tuple[int, int]
) -> np.ndarray:
    """Projection of a solid of revolution about the sample axis, from ``x_start_mm`` to ``x_end_mm``
    along it; ``radius_mm`` is a number or a function of x. Column by column while the axis stays
    parallel to the spindle (kappa = 0), else through :func:`_tilted_revolution_mask`."""
    if projector.sample_axis_tilted:
        return _tilted_revolution_mask(projector, sample, x_start_mm, x_end_mm, radius_mm, shape)
    camera = projector.camera
    rows, cols = np.ogrid[0 : shape[0], 0 : shape[1]]
    beam_row, beam_col = camera.beam_position_px
    x_mm = (cols - beam_col) * camera.pixel_size_mm - projector.positions.alignment_y_mm
    axis_row, _ = projector.pixels(0.0, sample.offset_u_mm, sample.offset_w_mm)
    radius_px = radius_mm(x_mm) / camera.pixel_size_mm if callable(radius_mm) else radius_mm / camera.pixel_size_mm
    within = (x_mm >= x_start_mm) & (x_mm <= x_end_mm)
    return within & (np.abs(rows - axis_row) <= radius_px)


def _tilted_revolution_mask(
    projector: Projector, sample: Sample, x_start_mm: float, x_end_mm: float, radius_mm, shape: tuple[int, int]
) -> np.ndarray:
    """Exact projection of a solid of revolution whose axis kappa has tilted away from the spindle.

    The radius profile, sampled every ``PROFILE_STEP_PX`` of projected axis, is cut into pieces along
    which it is linear to ``PROFILE_TOLERANCE_PX``: each piece is a frustum, the convex hull of its two
    end discs, so its projection is the convex hull of their projections (ellipses with semi-axes r
    across the projected axis and r * |depth| along it, depth being the axis's component along the
    view). The mask holds the pixel centres inside any of those hulls, as the kappa = 0 path does; unlike
    a union of discs it keeps flat ends flat.
    """
    pixel_mm = projector.camera.pixel_size_mm
    start_mm, end_mm = max(x_start_mm, -REVOLUTION_REACH_MM), min(x_end_mm, REVOLUTION_REACH_MM)
    if start_mm >= end_mm:
        return np.zeros(shape, dtype=bool)

    def radius_px(x_mm: np.ndarray) -> np.ndarray:
        values = radius_mm(x_mm) if callable(radius_mm) else radius_mm
        return np.broadcast_to(np.asarray(values, dtype=float), x_mm.shape) / pixel_mm

    row0, col0, drow, dcol = projector.sample_axis_px(sample)
    margin_px = radius_px(np.linspace(start_mm, end_mm, 4001)).max() + 2.0
    for origin, step, size in ((row0, drow, shape[0]), (col0, dcol, shape[1])):
        if abs(step) < 1e-12:
            if not -margin_px <= origin <= size - 1 + margin_px:
                return np.zeros(shape, dtype=bool)
            continue
        low, high = sorted(((-margin_px - origin) / step, (size - 1 + margin_px - origin) / step))
        start_mm, end_mm = max(start_mm, low), min(end_mm, high)
    if start_mm >= end_mm:
        return np.zeros(shape, dtype=bool)

    along_px_per_mm = float(np.hypot(drow, dcol))
    count = max(int(np.ceil((end_mm - start_mm) * along_px_per_mm / PROFILE_STEP_PX)) + 1, 2)
    t_mm = _with_jumps_located(np.linspace(start_mm, end_mm, count), radius_px)
    radii_px = radius_px(t_mm)
    depth = abs(float(projector.lab_direction(np.array([1.0, 0.0, 0.0]))[1]))
    along = np.array([drow, dcol]) / along_px_per_mm
    across = np.array([along[1], -along[0]])
    centres = np.column_stack([row0 + t_mm * drow, col0 + t_mm * dcol])
    knots = _linear_pieces(t_mm, radii_px, PROFILE_TOLERANCE_PX)
    spans = []
    for first, last in zip(knots[:-1], knots[1:]):
        spans.extend(_frustum_spans(centres[first], centres[last], radii_px[first], radii_px[last], depth, along, across, shape))
    return _fill_spans(spans, shape)


def _with_jumps_located(t_mm: np.ndarray, radius_px) -> np.ndarray:
    """``t_mm`` with two more samples around each steep change of the profile, found by bisection to
    1e-6 of the sampling step: a step in the radius (a stepped pin's end, the pin's base) then stays
    a step instead of a ramp across one sampling interval."""
    radii = radius_px(t_mm)
    steep = np.nonzero(np.abs(np.diff(radii)) > 5 * PROFILE_TOLERANCE_PX)[0]
    if not steep.size:
        return t_mm
    low, high = t_mm[steep], t_mm[steep + 1]
    low_r, high_r = radii[steep], radii[steep + 1]
    for _ in range(20):
        middle = 0.5 * (low + high)
        middle_r = radius_px(middle)
        first_half = np.abs(middle_r - low_r) >= np.abs(high_r - middle_r)
        high, high_r = np.where(first_half, middle, high), np.where(first_half, middle_r, high_r)
        low, low_r = np.where(first_half, low, middle), np.where(first_half, low_r, middle_r)
    return np.unique(np.concatenate([t_mm, low, high]))


def _linear_pieces(t: np.ndarray, values: np.ndarray, tolerance: float) -> list[int]:
    """Indices of knots between which ``values`` is linear in ``t`` to within ``tolerance`` (greedy,
    galloping: a few vectorised checks per piece)."""

    def fits(first: int, last: int) -> bool:
        inner = slice(first + 1, last)
        line = values[first] + (values[last] - values[first]) * (t[inner] - t[first]) / (t[last] - t[first])
        return bool(np.all(np.abs(values[inner] - line) <= tolerance))

    knots, first, end = [0], 0, len(t) - 1
    while first < end:
        last, step = first + 1, 1
        while step:
            if last + step <= end and fits(first, last + step):
                last += step
                step *= 2
            else:
                step //= 2
        knots.append(last)
        first = last
    return knots


Spans = tuple[np.ndarray, np.ndarray, np.ndarray]


def _frustum_spans(
    centre_a: np.ndarray,
    centre_b: np.ndarray,
    radius_a: float,
    radius_b: float,
    depth: float,
    along: np.ndarray,
    across: np.ndarray,
    shape: tuple[int, int],
) -> list[Spans]:
    """Row spans (row, left col, right col; pixels) covering the projection of a frustum: its end
    ellipses and the quadrilateral between their outer tangent points. Stretching the image by
    1 / depth along the axis turns the ellipses into circles, where the tangents are those of two
    circles; the stretch keeps convex hulls."""
    distance = float(np.hypot(*(centre_b - centre_a))) / max(depth, 1e-12)
    if distance <= abs(radius_a - radius_b):
        centre, radius = (centre_a, radius_a) if radius_a >= radius_b else (centre_b, radius_b)
        return [_ellipse_spans(centre, radius * depth, radius, along, across, shape)]
    cos_tangent = (radius_a - radius_b) / distance
    sin_tangent = np.sqrt(1.0 - cos_tangent**2)
    upper, lower = cos_tangent * depth * along + sin_tangent * across, cos_tangent * depth * along - sin_tangent * across
    quadrilateral = np.array(
        [centre_a + radius_a * upper, centre_b + radius_b * upper, centre_b + radius_b * lower, centre_a + radius_a * lower]
    )
    spans = [_polygon_spans(quadrilateral, shape)]
    if depth * max(radius_a, radius_b) > 1e-6:
        spans.append(_ellipse_spans(centre_a, radius_a * depth, radius_a, along, across, shape))
        spans.append(_ellipse_spans(centre_b, radius_b * depth, radius_b, along, across, shape))
    return spans


def _rows_between(low: float, high: float, rows: int) -> np.ndarray:
    """The image rows (pixel centres) from ``low`` to ``high``, both included, within the image."""
    return np.arange(max(int(np.ceil(low)), 0), min(int(np.floor(high)), rows - 1) + 1)


def _ellipse_spans(
    centre: np.ndarray, semi_along: float, semi_across: float, along: np.ndarray, across: np.ndarray, shape: tuple[int, int]
) -> Spans:
    """Row spans of the ellipse with semi-axes ``semi_along`` / ``semi_across`` (pixels) on the unit
    (row, col) directions ``along`` / ``across``."""
    if semi_along <= 0.0 or semi_across <= 0.0:
        empty = np.zeros(0)
        return empty.astype(int), empty, empty
    form = np.outer(along, along) / semi_along**2 + np.outer(across, across) / semi_across**2
    half_height = np.hypot(semi_along * along[0], semi_across * across[0])
    rows = _rows_between(centre[0] - half_height, centre[0] + half_height, shape[0])
    dy = rows - centre[0]
    half_width = np.sqrt(np.maximum((form[0, 1] * dy) ** 2 - form[1, 1] * (form[0, 0] * dy**2 - 1.0), 0.0))
    middle = centre[1] - form[0, 1] * dy / form[1, 1]
    return rows, middle - half_width / form[1, 1], middle + half_width / form[1, 1]


def _polygon_spans(vertices: np.ndarray, shape: tuple[int, int]) -> Spans:
    """Row spans of a convex polygon given by its (row, col) vertices in order."""
    rows = _rows_between(vertices[:, 0].min(), vertices[:, 0].max(), shape[0])
    start, end = vertices, np.roll(vertices, -1, axis=0)
    rise = end[:, 0] - start[:, 0]
    sloped = rise != 0.0
    if not rows.size or not sloped.any():
        empty = np.zeros(0)
        return rows[:0], empty, empty
    start, end, rise = start[sloped], end[sloped], rise[sloped]
    fraction = (rows[:, None] - start[None, :, 0]) / rise[None, :]
    crossing = start[None, :, 1] + fraction * (end[None, :, 1] - start[None, :, 1])
    crossing = np.where((fraction >= 0.0) & (fraction <= 1.0), crossing, np.nan)
    found = ~np.all(np.isnan(crossing), axis=1)
    return rows[found], np.nanmin(crossing[found], axis=1), np.nanmax(crossing[found], axis=1)


def _fill_spans(spans: list[Spans], shape: tuple[int, int]) -> np.ndarray:
    """Mask of the pixel centres within any span (closed), by counting span starts and ends per row."""
    rows = np.concatenate([span[0] for span in spans])
    first = np.ceil(np.concatenate([span[1] for span in spans]))
    last = np.floor(np.concatenate([span[2] for span in spans]))
    keep = (first <= last) & (last >= 0) & (first <= shape[1] - 1)
    rows = rows[keep]
    first = np.clip(first[keep], 0, shape[1] - 1).astype(int)
    last = np.clip(last[keep], 0, shape[1] - 1).astype(int)
    width = shape[1] + 1
    counts = np.bincount(rows * width + first, minlength=shape[0] * width) - np.bincount(
        rows * width + last + 1, minlength=shape[0] * width
    )
    return (np.cumsum(counts.reshape(shape[0], width), axis=1) > 0)[:, : shape[1]]


VIEW_DIRECTION = np.array([0.0, 1.0, 0.0])
POLYIMIDE_AMBER = np.array([1.0, 0.78, 0.45], dtype=np.float32)


def _seen_through_film(sample: Sample, projector: Projector, points_loop_frame: np.ndarray) -> np.ndarray:
    """Lab positions where points given in the loop frame (along, across, normal; mm from the loop
    centre) appear, refracted through the film face that looks towards the camera. In a bent loop the
    points and the face move with the film's deflection where the points are (locally a plane)."""
    across, normal = sample.loop_axes
    centre = sample.loop_centre_rotating_mm()
    bend = float(sample.bend_mm(points_loop_frame[:, 0].mean()))
    x = centre[0] + points_loop_frame[:, 0]
    depth = points_loop_frame[:, 2] + bend
    u = centre[1] + points_loop_frame[:, 1] * across[0] + depth * normal[0]
    w = centre[2] + points_loop_frame[:, 1] * across[1] + depth * normal[1]
    lab = projector.lab_points(x, u, w)
    face_normal = projector.lab_direction(np.array([0.0, normal[0], normal[1]]))
    if face_normal @ VIEW_DIRECTION < 0:
        face_normal = -face_normal
    film_centre = centre + np.array([0.0, bend * normal[0], bend * normal[1]])
    face_point = projector.lab_points(*film_centre)[0] + 0.5 * sample.film_thickness_mm * face_normal
    return apparent_positions(lab, face_point, face_normal, sample.refractive_index, VIEW_DIRECTION)


def _pin_profile(sample: Sample):
    """Pin radius (mm) against x for the sample's pin style (chamfered, stepped or rounded end), with
    the wider magnetic base ``pin_length_mm`` behind the tip (in view at low zoom)."""
    radius, tip = sample.pin_radius_mm, sample.pin_tip_x_mm

    def chamfer(x_mm):
        return radius * (0.55 + 0.45 * np.clip((tip - x_mm) / (0.6 * radius), 0.0, 1.0))

    def step(x_mm):
        return np.where(tip - x_mm < 0.35 * radius, 0.5 * radius, radius)

    def rounded(x_mm):
        end = 0.5 * radius
        into_end = np.clip((x_mm - (tip - end)) / end, 0.0, 1.0)
        return radius * np.sqrt(np.clip(1.0 - into_end**2, 0.04, 1.0))

    profile = {"chamfer": chamfer, "step": step, "round": rounded}[sample.pin_style]
    base_start = tip - sample.pin_length_mm

    def with_base(x_mm):
        return np.where(x_mm < base_start, 2.2 * radius, profile(x_mm))

    return with_base


def _stem_profile(sample: Sample):
    """Stem radius: constant for a tube, periodically pinched for a twisted wire."""
    if sample.stem_style != "twisted":
        return sample.stem_radius_mm
    period = 6.0 * sample.stem_radius_mm

    def twisted(x_mm):
        return sample.stem_radius_mm * (0.8 + 0.2 * np.abs(np.cos(np.pi * x_mm / period)))

    return twisted


def _mesh_mask(sample: Sample, projector: Projector, along: np.ndarray, across_extent: np.ndarray, shape) -> np.ndarray:
    """A mesh loop's grid: wires along and across the loop plane, clipped to the loop's outline."""
    across, _ = sample.loop_axes
    centre = sample.loop_centre_rotating_mm()
    pitch = sample.mesh_pitch_mm
    radius_px = 0.35 * sample.loop_wire_radius_mm / projector.camera.pixel_size_mm
    a, b = sample.loop_half_length_mm, np.abs(across_extent).max()
    points_along, points_across = [], []
    steps = np.linspace(-1.0, 1.0, 200)
    for offset in np.arange(-b + pitch / 2, b, pitch):
        points_along.append(steps * a)
        points_across.append(np.full_like(steps, offset))
    for offset in np.arange(-a + pitch / 2, a, pitch):
        points_along.append(np.full_like(steps, offset))
        points_across.append(steps * b)
    grid_along, grid_across = np.concatenate(points_along), np.concatenate(points_across)
    order = np.argsort(along)
    limit = np.interp(grid_along, along[order], np.abs(across_extent)[order])
    keep = np.abs(grid_across) <= limit
    x = centre[0] + grid_along[keep]
    u = centre[1] + grid_across[keep] * across[0]
    w = centre[2] + grid_across[keep] * across[1]
    return _tube_mask(*projector.pixels(x, u, w), radius_px, shape)


def _disc_masks(rows: np.ndarray, cols: np.ndarray, radii_px: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Union of discs (projections of spheres)."""
    mask = np.zeros(shape, dtype=bool)
    for row, col, radius in zip(rows, cols, radii_px):
        rr, cc = skdisk((row, col), max(radius, 0.5), shape=shape)
        mask[rr, cc] = True
    return mask


def sample_masks(sample: Sample, camera: CameraGeometry, positions: GoniometerPositions) -> dict[str, np.ndarray]:
    """Exact per-notion masks of ``sample`` seen at ``positions``."""
    shape = camera.shape_px
    projector = Projector(camera, positions)
    pin = _revolution_mask(projector, sample, -np.inf, sample.pin_tip_x_mm, _pin_profile(sample), shape)
    loop_start_x = sample.loop_centre_x_mm - sample.loop_half_length_mm
    stem = _revolution_mask(projector, sample, sample.pin_tip_x_mm, loop_start_x, _stem_profile(sample), shape) & ~pin

    across, normal = sample.loop_axes
    t = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    centre = sample.loop_centre_rotating_mm()
    along = sample.loop_half_length_mm * np.cos(t)
    out_of_axis = sample.loop_half_width_mm * np.sin(t) * (1.0 - sample.loop_taper * (1.0 - np.cos(t)) / 2.0)
    ring_x = centre[0] + along
    bend = sample.bend_mm(along)
    ring_u = centre[1] + out_of_axis * across[0] + bend * normal[0]
    ring_w = centre[2] + out_of_axis * across[1] + bend * normal[1]
    ring_rows, ring_cols = projector.pixels(ring_x, ring_u, ring_w)
    wire = _tube_mask(ring_rows, ring_cols, sample.loop_wire_radius_mm / camera.pixel_size_mm, shape)

    if sample.mesh_pitch_mm:
        wire |= _mesh_mask(sample, projector, along, out_of_axis, shape)

    half_film = 0.5 * sample.film_thickness_mm
    normal_lab = projector.lab_direction(np.array([0.0, normal[0], normal[1]]))
    film_rows = np.concatenate([ring_rows, ring_rows]) - np.concatenate(
        [np.full_like(ring_rows, s * half_film * normal_lab[2]) for s in (1, -1)]
    ) / camera.pixel_size_mm
    film_cols = np.concatenate([ring_cols, ring_cols])
    if normal_lab[0] != 0.0:
        film_cols = film_cols + np.concatenate(
            [np.full_like(ring_cols, s * half_film * normal_lab[0]) for s in (1, -1)]
        ) / camera.pixel_size_mm
    loop_inside = _polygon_mask(film_rows, film_cols, shape)
    loop = loop_inside | wire

    crystal = np.zeros(shape, dtype=bool)
    for member in ((sample.crystal, *sample.cluster) if sample.crystal is not None else ()):
        apparent = _seen_through_film(sample, projector, member.vertices_loop_frame())
        crystal |= _polygon_mask(*projector.pixels_of_lab(apparent), shape) & loop_inside

    ice = np.zeros(shape, dtype=bool)
    if sample.ice:
        positions = np.array([blob.position_mm for blob in sample.ice])
        ix = centre[0] + positions[:, 0]
        iu = centre[1] + positions[:, 1] * across[0] + positions[:, 2] * normal[0]
        iw = centre[2] + positions[:, 1] * across[1] + positions[:, 2] * normal[1]
        radii = np.array([blob.radius_mm for blob in sample.ice]) / camera.pixel_size_mm
        ice = _disc_masks(*projector.pixels(ix, iu, iw), radii, shape)
    if sample.ice_ring_arc_deg is not None:
        start, span = np.deg2rad(sample.ice_ring_arc_deg)
        on_arc = ((t - start) % (2 * np.pi)) <= span
        thickness_px = 2.5 * sample.loop_wire_radius_mm / camera.pixel_size_mm
        ice |= _tube_mask(ring_rows[on_arc], ring_cols[on_arc], thickness_px, shape)

    capillary = np.zeros(shape, dtype=bool)
    if sample.capillary_radius_mm is not None:
        start = sample.pin_tip_x_mm - 0.3
        capillary = _revolution_mask(projector, sample, start, np.inf, sample.capillary_radius_mm, shape)

    masks = {
        "crystal": crystal,
        "loop_inside": loop_inside,
        "loop": loop,
        "stem": stem & ~loop,
        "pin": pin,
        "capillary": capillary,
        "ice": ice,
    }
    masks["foreground"] = pin | stem | loop | ice | capillary
    assert set(masks) == set(NOTIONS)
    return masks


@dataclass(frozen=True)
class Optics:
    """How a frame looks, beyond its geometry: focus, exposure, colour, noise, compression, dust, and
    ``front_light``, light reflected by the opaque parts (0 = back light only); ``back_light``, the
    share of the lamp behind the sample that is on (0: dark field); ``edge_glow``, the grey level (before
    exposure gain, colour cast and gamma) of the brightest light the sample's outline scatters (dark
    field, 0: none), from a light in the direction ``edge_light_rad`` (0: right, pi / 2: top); ``vignetting``, the
    lamp's fall-off to the corners (0: none); ``acceptance_rad``, the objective's acceptance half-angle,
    which decides how dark a liquid drop images (``mxsight.sim.appearance``).

    ``depth_of_field_mm`` None keeps everything in focus; otherwise the frame is blurred by
    ``1.5 * depth / depth_of_field`` pixels (Gaussian sigma, at most 8) for the loop centre's distance
    from the focal plane (the plane through the rotation axis). Orientation: ``spindle`` "vertical"
    transposes the frame, ``pin_side`` "right" mirrors it; both are exact for an orthographic camera.
    """

    exposure_gain: float = 1.0
    gamma: float = 1.0
    colour_cast: tuple[float, float, float] = (1.0, 1.0, 1.0)
    noise_sigma: float = 2.0
    jpeg_quality: int | None = None
    depth_of_field_mm: float | None = None
    dust_specks: int = 0
    front_light: float = 0.0
    back_light: float = 1.0
    edge_glow: float = 0.0
    edge_light_rad: float = np.pi / 2
    vignetting: float = 0.0
    acceptance_rad: float = 0.1
    spindle: str = "horizontal"
    pin_side: str = "left"


def random_optics(rng: np.random.Generator, pixel_size_um: float) -> Optics:
    """Plausible beamline variety: exposure, gamma, colour casts, noise, JPEG, focus, dust, orientation."""
    return Optics(
        exposure_gain=float(rng.uniform(0.6, 1.3)),
        gamma=float(rng.uniform(0.8, 1.25)),
        colour_cast=tuple(float(v) for v in rng.uniform(0.85, 1.15, 3)),
        noise_sigma=float(rng.uniform(0.5, 5.0)),
        jpeg_quality=int(rng.integers(60, 96)) if rng.uniform() < 0.7 else None,
        depth_of_field_mm=0.01 * pixel_size_um**2 + 0.02,
        dust_specks=int(rng.integers(0, 12)),
        front_light=float(rng.uniform(0.05, 0.4)) if rng.uniform() < 0.4 else 0.0,
        spindle=str(rng.choice(["horizontal", "vertical"], p=[0.7, 0.3])),
        pin_side=str(rng.choice(["left", "right"])),
    )


def _transmission(masks: dict[str, np.ndarray], sample: Sample, projector: Projector, optics: Optics, rng: np.random.Generator) -> np.ndarray:
    """Grey transmission of the sample (1 = clear), with cylinder shading and film / crystal edges, a
    polished pin's reflections and a liquid drop's lens (``rng`` draws the drop's highlights)."""
    camera = projector.camera
    transmission = np.ones(camera.shape_px, dtype=np.float32)
    if masks["capillary"].any():
        capillary = masks["capillary"]
        walls = _inner_edge(capillary, max(2, int(0.015 / camera.pixel_size_mm)))
        transmission[capillary] = 0.96
        transmission[walls] = 0.45
    if projector.sample_axis_tilted:
        row0, col0, drow, dcol = projector.sample_axis_px(sample)
        pin_rows, pin_cols = np.nonzero(masks["pin"])
        across_px = np.abs((pin_rows - row0) * dcol - (pin_cols - col0) * drow) / np.hypot(drow, dcol)
        across_pin = (across_px * camera.pixel_size_mm / sample.pin_radius_mm).astype(np.float32)
        transmission[pin_rows, pin_cols] = 0.06 + 0.3 * np.exp(-(((across_pin - 0.35) / 0.12) ** 2))
        if sample.pin_finish == "polished":
            along_px = ((pin_rows - row0) * drow + (pin_cols - col0) * dcol) / np.hypot(drow, dcol)
            transmission[pin_rows, pin_cols] = polished_pin(across_pin, along_px, _pin_looks(sample))
    else:
        axis_row, _ = projector.pixels(0.0, sample.offset_u_mm, sample.offset_w_mm)
        rows = np.arange(camera.shape_px[0], dtype=np.float32)[:, None]
        across_pin = np.abs(rows - axis_row) * camera.pixel_size_mm / sample.pin_radius_mm
        highlight = 0.06 + 0.3 * np.exp(-(((across_pin - 0.35) / 0.12) ** 2))
        transmission = np.where(masks["pin"], np.broadcast_to(highlight, transmission.shape), transmission)
        if sample.pin_finish == "polished":
            pin_rows, pin_cols = np.nonzero(masks["pin"])
            across = np.abs(pin_rows - axis_row) * camera.pixel_size_mm / sample.pin_radius_mm
            transmission[pin_rows, pin_cols] = polished_pin(across.astype(np.float32), pin_cols.astype(np.float32), _pin_looks(sample))
    stem = masks["stem"]
    transmission[stem] = 0.18
    if sample.stem_style == "tube" and stem.any():
        core = stem & ~_inner_edge(stem, max(1, int(0.4 * sample.stem_radius_mm / camera.pixel_size_mm)))
        transmission[core] = 0.3
    film = masks["loop_inside"]
    transmission[film] *= 0.9
    film_edge = _inner_edge(film, 3)
    transmission[film_edge] = 0.55
    crystal = masks["crystal"]
    if crystal.any():
        transmission[crystal] = 0.72
        rim = _inner_edge(crystal, 3)
        transmission[rim] = 0.95
        transmission[_inner_edge(crystal, 2)] = 0.35
    transmission[masks["loop"] & ~film] = 0.3
    if sample.drop_bulge > 0:
        transmission *= drop_lens(film, sample.drop_bulge, sample.refractive_index, optics.acceptance_rad, rng)
    if sample.bubbles:
        transmission *= _bubble_shading(sample, projector, film)
    ice = masks["ice"]
    if ice.any():
        transmission[ice] = np.minimum(transmission[ice], 0.6)
        transmission[_inner_edge(ice, 2)] = 0.4
    return transmission


def _pin_looks(sample: Sample) -> np.random.Generator:
    """The same polished pin shows the same reflections in every frame of a sweep."""
    return np.random.default_rng([sample.seed or 0, 6])


def _bubble_shading(sample: Sample, projector: Projector, film: np.ndarray) -> np.ndarray:
    """Air bubbles in the film: bright centres inside a dark refracting rim (part of loop_inside)."""
    across, normal = sample.loop_axes
    centre = sample.loop_centre_rotating_mm()
    shading = np.ones(film.shape, dtype=np.float32)
    pixel_mm = projector.camera.pixel_size_mm
    for bubble in sample.bubbles:
        a, c, n = bubble.position_mm
        row, col = projector.pixels(centre[0] + a, centre[1] + c * across[0] + n * normal[0], centre[2] + c * across[1] + n * normal[1])
        radius = max(bubble.radius_mm / pixel_mm, 1.0)
        rr, cc = skdisk((float(row), float(col)), radius, shape=film.shape)
        distance = np.hypot(rr - row, cc - col) / radius
        shading[rr, cc] = np.where(distance > 0.7, 0.55, 1.08)
    return np.where(film, shading, 1.0)


def _orient(array: np.ndarray, optics: Optics) -> np.ndarray:
    if optics.pin_side == "right":
        array = array[:, ::-1]
    if optics.spindle == "vertical":
        array = np.swapaxes(array, 0, 1)
    return np.ascontiguousarray(array)


def _orient_point(point: tuple[float, float], shape: tuple[int, int], optics: Optics) -> tuple[float, float]:
    row, col = point
    if optics.pin_side == "right":
        col = shape[1] - 1 - col
    if optics.spindle == "vertical":
        row, col = col, row
    return float(row), float(col)


@functools.lru_cache(maxsize=4)
def _noise_bank(size: int) -> np.ndarray:
    """Standard-normal samples reused across frames from random offsets: drawing 4 million normals per
    full frame would cost more than everything else in a render."""
    return np.random.default_rng(20261124).standard_normal(size + 1_000_003, dtype=np.float32)


def _finish(image: np.ndarray, optics: Optics, rng: np.random.Generator) -> np.ndarray:
    """Exposure, gamma, colour cast, dust, sensor noise, 8-bit quantisation and JPEG compression
    (``image`` is float32 and is modified in place)."""
    image *= optics.exposure_gain * np.asarray(optics.colour_cast, dtype=np.float32)
    if optics.gamma != 1.0:
        np.clip(image, 0, 255, out=image)
        image[:] = 255.0 * (image / 255.0) ** (1.0 / optics.gamma)
    for _ in range(optics.dust_specks):
        row, col = rng.uniform(0, image.shape[0]), rng.uniform(0, image.shape[1])
        rr, cc = skdisk((row, col), rng.uniform(0.8, 3.0), shape=image.shape[:2])
        image[rr, cc] *= rng.uniform(0.55, 0.85)
    bank = _noise_bank(image.size)
    offset = int(rng.integers(0, bank.size - image.size))
    image += bank[offset : offset + image.size].reshape(image.shape) * np.float32(optics.noise_sigma)
    image += 0.5
    np.clip(image, 0, 255, out=image)
    image = image.astype(np.uint8)
    if optics.jpeg_quality is not None:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=optics.jpeg_quality)
        with Image.open(buffer) as decoded:
            image = np.asarray(decoded.convert("RGB"))
    return image


def _blur_sample(transmission: np.ndarray, foreground: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur of the transmission, computed only around the sample (it is 1 elsewhere)."""
    box = sample_box(foreground, int(4 * sigma_px) + 2)
    if box is not None:
        transmission[box] = ndi.gaussian_filter(transmission[box], sigma_px, mode="nearest")
    return transmission


def render(
    sample: Sample,
    camera: CameraGeometry,
    positions: GoniometerPositions,
    background: np.ndarray,
    *,
    noise_seed: int = 0,
    optics: Optics = Optics(),
) -> RenderedFrame:
    """Image and exact labels of ``sample`` at ``positions``, composited on ``background`` (H, W, 3 uint8).

    ``background`` and ``camera`` describe the horizontal-spindle, pin-on-the-left view; ``optics`` may
    turn the result to another orientation, and then the returned image, masks and points follow it.
    """
    if background.shape[:2] != camera.shape_px:
        raise ValueError(f"background is {background.shape[:2]} pixels but the camera is {camera.shape_px}")
    projector = Projector(camera, positions)
    masks = sample_masks(sample, camera, positions)
    transmission = _transmission(masks, sample, projector, optics, np.random.default_rng([noise_seed, 9]))
    blur_px = 0.7
    if optics.depth_of_field_mm:
        depth_mm = abs(projector.lab_points(*sample.loop_centre_rotating_mm())[0, 1])
        blur_px = min(0.7 + 1.5 * depth_mm / optics.depth_of_field_mm, 8.0)
    transmission = _blur_sample(transmission, masks["foreground"], blur_px)
    image = background.astype(np.float32) * transmission[..., None]
    if optics.back_light != 1.0:
        image *= np.float32(optics.back_light)
    if optics.vignetting:
        image *= vignetting(camera.shape_px, optics.vignetting)[..., None]
    if optics.front_light:
        image += (optics.front_light * 150.0) * (1.0 - transmission)[..., None]
    if optics.edge_glow:
        opacity = np.clip(1.0 - transmission, 0.0, 1.0)
        glow_map = edge_glow(opacity, optics.edge_light_rad, np.random.default_rng([noise_seed, 10]))
        image += (optics.edge_glow * glow_map)[..., None]
    tint = np.array([-6.0, 0.0, 10.0], dtype=np.float32) * np.float32(optics.back_light)
    image[masks["loop_inside"]] += tint
    if sample.loop_material == "polyimide":
        wire = masks["loop"] & ~masks["loop_inside"]
        image[wire] = np.minimum(image[wire] * np.float32(1.8) * POLYIMIDE_AMBER, 255.0)
    image = _finish(image, optics, np.random.default_rng(noise_seed))

    loop_row, loop_col = projector.pixels(*sample.loop_centre_rotating_mm())
    if sample.crystal is not None:
        crystal = sample.crystal
        centre_loop_frame = np.array([[crystal.centre_along_mm, crystal.centre_across_mm, crystal.centre_normal_mm]])
        rows, cols = projector.pixels_of_lab(_seen_through_film(sample, projector, centre_loop_frame))
        click = (rows[0], cols[0])
    else:
        click = (loop_row, loop_col)
    shape = camera.shape_px
    return RenderedFrame(
        image=_orient(image, optics),
        masks={notion: _orient(mask, optics) for notion, mask in masks.items()},
        click_px=_orient_point((float(click[0]), float(click[1])), shape, optics),
        loop_centre_px=_orient_point((float(loop_row), float(loop_col)), shape, optics),
        omega_deg=positions.omega_deg,
    )
