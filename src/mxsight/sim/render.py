"""Orthographic image formation of a :class:`~mxsight.sim.scene.Sample` on a horizontal spindle.

The camera looks along the lab's depth axis. The spindle runs along image columns (the pin enters
from the left), and the lab's vertical axis runs up the image. A point (x, u, w) of the rotating frame
appears, for goniometer positions ``p``, at::

    X = x + p.alignment_y_mm
    Z = p.alignment_z_mm + (u + p.centring_x_mm) * cos(omega) - (w + p.centring_y_mm) * sin(omega)
    col = beam_col + X / pixel_size,  row = beam_row - Z / pixel_size

so the beam is at lab (X, Z) = (0, 0), and the rotation axis passes through it when alignment z is 0.
Masks are exact projections of the 3-D solids (to the pixel grid); the image is the background
multiplied by each solid's transmission.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage as ndi
from scipy.spatial import ConvexHull
from skimage.draw import disk as skdisk

from mxsight.notions import NOTIONS
from mxsight.sim.optics import apparent_positions
from mxsight.sim.scene import Sample

CAMERA_SHAPE_PX = (1024, 1360)


@dataclass(frozen=True)
class GoniometerPositions:
    """Motor positions that decide what the camera sees (mm and degrees)."""

    omega_deg: float = 0.0
    centring_x_mm: float = 0.0
    centring_y_mm: float = 0.0
    alignment_y_mm: float = 0.0
    alignment_z_mm: float = 0.0


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


class Projector:
    """Maps rotating-frame points (mm) to image pixels for given goniometer positions."""

    def __init__(self, camera: CameraGeometry, positions: GoniometerPositions):
        self.camera = camera
        self.positions = positions
        self.omega_rad = np.deg2rad(positions.omega_deg)

    def lab(self, x_mm, u_mm, w_mm) -> tuple[np.ndarray, np.ndarray]:
        p = self.positions
        uu = np.asarray(u_mm) + p.centring_x_mm
        ww = np.asarray(w_mm) + p.centring_y_mm
        lab_x = np.asarray(x_mm) + p.alignment_y_mm
        lab_z = p.alignment_z_mm + uu * np.cos(self.omega_rad) - ww * np.sin(self.omega_rad)
        return lab_x, lab_z

    def pixels(self, x_mm, u_mm, w_mm) -> tuple[np.ndarray, np.ndarray]:
        """(row, col) in pixels of rotating-frame points."""
        lab_x, lab_z = self.lab(x_mm, u_mm, w_mm)
        beam_row, beam_col = self.camera.beam_position_px
        return beam_row - lab_z / self.camera.pixel_size_mm, beam_col + lab_x / self.camera.pixel_size_mm

    def lab_points(self, x_mm, u_mm, w_mm) -> np.ndarray:
        """Rotating-frame points as lab (X along the spindle, Y towards the camera, Z up), N x 3."""
        p = self.positions
        uu = np.asarray(u_mm, dtype=float) + p.centring_x_mm
        ww = np.asarray(w_mm, dtype=float) + p.centring_y_mm
        lab_x = np.asarray(x_mm, dtype=float) + p.alignment_y_mm
        lab_y = uu * np.sin(self.omega_rad) + ww * np.cos(self.omega_rad)
        lab_z = p.alignment_z_mm + uu * np.cos(self.omega_rad) - ww * np.sin(self.omega_rad)
        return np.column_stack(np.broadcast_arrays(lab_x, lab_y, lab_z))

    def lab_direction(self, direction_uw: np.ndarray) -> np.ndarray:
        """A rotating-frame direction (du, dw) in lab coordinates."""
        du, dw = direction_uw
        return np.array([0.0, du * np.sin(self.omega_rad) + dw * np.cos(self.omega_rad), self.vertical_component(direction_uw)])

    def pixels_of_lab(self, lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        beam_row, beam_col = self.camera.beam_position_px
        return beam_row - lab[:, 2] / self.camera.pixel_size_mm, beam_col + lab[:, 0] / self.camera.pixel_size_mm

    def vertical_component(self, direction_uw: np.ndarray) -> float:
        """Lab vertical component of a rotating-frame direction (du, dw)."""
        return float(direction_uw[0] * np.cos(self.omega_rad) - direction_uw[1] * np.sin(self.omega_rad))


def _polygon_mask(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Filled convex hull of the given pixel points (scan-line fill on the hull's bounding box)."""
    mask = np.zeros(shape, dtype=bool)
    points = np.column_stack([rows, cols])
    try:
        hull = ConvexHull(points)
        vertices = points[hull.vertices]
    except Exception:  # degenerate (collinear) points: fall back to the points themselves
        vertices = points
    r0, c0 = max(int(np.floor(vertices[:, 0].min())) - 1, 0), max(int(np.floor(vertices[:, 1].min())) - 1, 0)
    r1, c1 = min(int(np.ceil(vertices[:, 0].max())) + 2, shape[0]), min(int(np.ceil(vertices[:, 1].max())) + 2, shape[1])
    if r0 >= r1 or c0 >= c1:
        return mask
    canvas = Image.new("1", (c1 - c0, r1 - r0), 0)
    ImageDraw.Draw(canvas).polygon([(c - c0, r - r0) for r, c in vertices], fill=1)
    mask[r0:r1, c0:c1] = np.asarray(canvas, dtype=bool)
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


def _revolution_mask(
    projector: Projector, sample: Sample, x_start_mm: float, x_end_mm: float, radius_mm, shape: tuple[int, int]
) -> np.ndarray:
    """Projection of a solid of revolution about the sample axis (parallel to the spindle)."""
    camera = projector.camera
    rows, cols = np.ogrid[0 : shape[0], 0 : shape[1]]
    beam_row, beam_col = camera.beam_position_px
    x_mm = (cols - beam_col) * camera.pixel_size_mm - projector.positions.alignment_y_mm
    axis_row, _ = projector.pixels(0.0, sample.offset_u_mm, sample.offset_w_mm)
    radius_px = radius_mm(x_mm) / camera.pixel_size_mm if callable(radius_mm) else radius_mm / camera.pixel_size_mm
    within = (x_mm >= x_start_mm) & (x_mm <= x_end_mm)
    return within & (np.abs(rows - axis_row) <= radius_px)


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
    face_normal = projector.lab_direction(normal)
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
    film_rows = np.concatenate([ring_rows, ring_rows]) - np.concatenate(
        [np.full_like(ring_rows, s * half_film * projector.vertical_component(normal)) for s in (1, -1)]
    ) / camera.pixel_size_mm
    loop_inside = _polygon_mask(film_rows, np.concatenate([ring_cols, ring_cols]), shape)
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
    ``front_light``, light reflected by the opaque parts (0 = back light only).

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


def _transmission(masks: dict[str, np.ndarray], sample: Sample, projector: Projector) -> np.ndarray:
    """Grey transmission of the sample (1 = clear), with cylinder shading and film / crystal edges."""
    camera = projector.camera
    transmission = np.ones(camera.shape_px, dtype=np.float32)
    if masks["capillary"].any():
        capillary = masks["capillary"]
        walls = _inner_edge(capillary, max(2, int(0.015 / camera.pixel_size_mm)))
        transmission[capillary] = 0.96
        transmission[walls] = 0.45
    axis_row, _ = projector.pixels(0.0, sample.offset_u_mm, sample.offset_w_mm)
    rows = np.arange(camera.shape_px[0], dtype=np.float32)[:, None]
    across_pin = np.abs(rows - axis_row) * camera.pixel_size_mm / sample.pin_radius_mm
    highlight = 0.06 + 0.3 * np.exp(-(((across_pin - 0.35) / 0.12) ** 2))
    transmission = np.where(masks["pin"], np.broadcast_to(highlight, transmission.shape), transmission)
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
    if sample.bubbles:
        transmission *= _bubble_shading(sample, projector, film)
    ice = masks["ice"]
    if ice.any():
        transmission[ice] = np.minimum(transmission[ice], 0.6)
        transmission[_inner_edge(ice, 2)] = 0.4
    return transmission


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
    rows, cols = np.nonzero(foreground.any(axis=1))[0], np.nonzero(foreground.any(axis=0))[0]
    if not rows.size:
        return transmission
    margin = int(4 * sigma_px) + 2
    r0, r1 = max(rows[0] - margin, 0), min(rows[-1] + margin + 1, transmission.shape[0])
    c0, c1 = max(cols[0] - margin, 0), min(cols[-1] + margin + 1, transmission.shape[1])
    transmission[r0:r1, c0:c1] = ndi.gaussian_filter(transmission[r0:r1, c0:c1], sigma_px, mode="nearest")
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
    transmission = _transmission(masks, sample, projector)
    blur_px = 0.7
    if optics.depth_of_field_mm:
        depth_mm = abs(projector.lab_points(*sample.loop_centre_rotating_mm())[0, 1])
        blur_px = min(0.7 + 1.5 * depth_mm / optics.depth_of_field_mm, 8.0)
    transmission = _blur_sample(transmission, masks["foreground"], blur_px)
    image = background.astype(np.float32) * transmission[..., None]
    if optics.front_light:
        image += (optics.front_light * 150.0) * (1.0 - transmission)[..., None]
    tint = np.array([-6.0, 0.0, 10.0], dtype=np.float32)
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
