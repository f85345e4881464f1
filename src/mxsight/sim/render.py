"""Image formation of a :class:`~mxsight.sim.scene.Sample`: the empty field multiplied by each solid's
transmission, plus the light the sample reflects or scatters where ``Optics`` says so (front light,
dark field), then the optics' blur, noise, dust and compression.

Where points appear for goniometer positions is :mod:`mxsight.sim.projection` (the kinematics and the
orthographic camera, with the coordinate conventions); the exact labels are
:mod:`mxsight.sim.sample_masks`.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage as ndi
from skimage.draw import disk as skdisk

from mxsight.sim.appearance import drop_lens, edge_glow, polished_pin, sample_box, vignetting
from mxsight.sim.projection import CameraGeometry, GoniometerPositions, Projector
from mxsight.sim.rasterise import inner_edge
from mxsight.sim.sample_masks import sample_masks, seen_through_film
from mxsight.sim.scene import Sample


@dataclass
class RenderedFrame:
    """One simulated frame with its exact labels."""

    image: np.ndarray
    masks: dict[str, np.ndarray]
    click_px: tuple[float, float]
    loop_centre_px: tuple[float, float]
    omega_deg: float


POLYIMIDE_AMBER = np.array([1.0, 0.78, 0.45], dtype=np.float32)


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
        walls = inner_edge(capillary, max(2, int(0.015 / camera.pixel_size_mm)))
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
        core = stem & ~inner_edge(stem, max(1, int(0.4 * sample.stem_radius_mm / camera.pixel_size_mm)))
        transmission[core] = 0.3
    film = masks["loop_inside"]
    transmission[film] *= 0.9
    film_edge = inner_edge(film, 3)
    transmission[film_edge] = 0.55
    crystal = masks["crystal"]
    if crystal.any():
        transmission[crystal] = 0.72
        rim = inner_edge(crystal, 3)
        transmission[rim] = 0.95
        transmission[inner_edge(crystal, 2)] = 0.35
    transmission[masks["loop"] & ~film] = 0.3
    if sample.drop_bulge > 0:
        transmission *= drop_lens(film, sample.drop_bulge, sample.refractive_index, optics.acceptance_rad, rng)
    if sample.bubbles:
        transmission *= _bubble_shading(sample, projector, film)
    ice = masks["ice"]
    if ice.any():
        transmission[ice] = np.minimum(transmission[ice], 0.6)
        transmission[inner_edge(ice, 2)] = 0.4
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
        rows, cols = projector.pixels_of_lab(seen_through_film(sample, projector, centre_loop_frame))
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
