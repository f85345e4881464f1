"""Exact masks of projected solids on the pixel grid: polygons, tubes along a polyline, and solids of
revolution about the sample's axis (straight, or tilted by the kappa head), filled span by span; and
the inner edge band of a mask (where the renderer darkens rims and walls)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import ConvexHull
from skimage.draw import line as skline

from mxsight.sim.projection import Projector
from mxsight.sim.scene import Sample


def polygon_mask(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
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


def inner_edge(mask: np.ndarray, width_px: int) -> np.ndarray:
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


def tube_mask(rows: np.ndarray, cols: np.ndarray, radius_px: float, shape: tuple[int, int]) -> np.ndarray:
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


def revolution_mask(
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
