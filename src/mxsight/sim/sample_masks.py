"""The exact label masks of a sample for goniometer positions: pin, stem, loop wire, film, crystals
seen through the film, ice, capillary, and the foreground they make together."""

from __future__ import annotations

import numpy as np
from skimage.draw import disk as skdisk

from mxsight.notions import NOTIONS
from mxsight.sim.optics import apparent_positions
from mxsight.sim.projection import CameraGeometry, GoniometerPositions, Projector
from mxsight.sim.rasterise import polygon_mask, revolution_mask, tube_mask
from mxsight.sim.scene import Sample

VIEW_DIRECTION = np.array([0.0, 1.0, 0.0])


def seen_through_film(sample: Sample, projector: Projector, points_loop_frame: np.ndarray) -> np.ndarray:
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
    return tube_mask(*projector.pixels(x, u, w), radius_px, shape)


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
    pin = revolution_mask(projector, sample, -np.inf, sample.pin_tip_x_mm, _pin_profile(sample), shape)
    loop_start_x = sample.loop_centre_x_mm - sample.loop_half_length_mm
    stem = revolution_mask(projector, sample, sample.pin_tip_x_mm, loop_start_x, _stem_profile(sample), shape) & ~pin

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
    wire = tube_mask(ring_rows, ring_cols, sample.loop_wire_radius_mm / camera.pixel_size_mm, shape)

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
    loop_inside = polygon_mask(film_rows, film_cols, shape)
    loop = loop_inside | wire

    crystal = np.zeros(shape, dtype=bool)
    for member in ((sample.crystal, *sample.cluster) if sample.crystal is not None else ()):
        apparent = seen_through_film(sample, projector, member.vertices_loop_frame())
        crystal |= polygon_mask(*projector.pixels_of_lab(apparent), shape) & loop_inside

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
        ice |= tube_mask(ring_rows[on_arc], ring_cols[on_arc], thickness_px, shape)

    capillary = np.zeros(shape, dtype=bool)
    if sample.capillary_radius_mm is not None:
        start = sample.pin_tip_x_mm - 0.3
        capillary = revolution_mask(projector, sample, start, np.inf, sample.capillary_radius_mm, shape)

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
