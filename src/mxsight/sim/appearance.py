"""How real cameras image what the geometry leaves open: liquid drops as lenses, polished pins, lighting.

A back-lit on-axis camera sees a liquid drop in a loop as a lens. Light through its curved surface is
bent by about ``(n - 1) * atan(slope)``; where that exceeds the objective's acceptance half-angle
(``Optics.acceptance_rad``) the light misses the objective and the drop images dark. A thin, flat film
is therefore nearly clear, a thick drop is a dark disc with a clear window where its surface is level
(its centre), and small bright highlights where light from the lamp's edge is bent into the objective.
A polished metal pin reflects the lamp in bright bands along its length, broken by its knurling.
With the back light off (dark field) the field is black and the sample is seen only by the light its
outline scatters from the room or a ring light: bright, patchy edges, most on the side facing the light.

Everything here returns factors on the transmission map (1 = unchanged; above 1 brighter than the
empty field) or light added to the image, so the labels never move.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage as ndi
from skimage.draw import ellipse

EXPOSURE_MODES = ("normal", "dim", "over-exposed", "front-lit", "dark-field")


def drop_lens(film: np.ndarray, bulge: float, refractive_index: float, acceptance_rad: float, rng: np.random.Generator) -> np.ndarray:
    """Transmission factor of a liquid drop filling ``film`` (bool mask) and bulging ``bulge`` times
    the film's half-width at its centre: dark where its surface bends light out of the objective, a
    dimmed clear window where it is level, and 0-3 bright highlights between the two."""
    factor = np.ones(film.shape, dtype=np.float32)
    if bulge <= 0 or not film.any():
        return factor
    distance = ndi.distance_transform_edt(film)
    reach = distance[film] / distance.max()
    slope = bulge * (1.0 - reach) / np.sqrt(np.maximum(reach * (2.0 - reach), 1e-6))
    deflection = (refractive_index - 1.0) * np.arctan(slope)
    clear = rng.uniform(0.35, 1.0)
    factor[film] = clear / (1.0 + (deflection / acceptance_rad) ** 4)
    _add_highlights(factor, film, distance, rng)
    return factor


def _add_highlights(factor: np.ndarray, film: np.ndarray, distance: np.ndarray, rng: np.random.Generator) -> None:
    """Small bright, elongated spots inside the drop, away from its rim and its centre."""
    radius_px = float(distance.max())
    rows, cols = np.nonzero(film & (distance > 0.3 * radius_px) & (distance < 0.85 * radius_px))
    for _ in range(int(rng.integers(0, 4)) if rows.size else 0):
        pick = int(rng.integers(rows.size))
        major = max(rng.uniform(0.04, 0.15) * radius_px, 1.0)
        minor = max(major * rng.uniform(0.2, 0.6), 0.7)
        rr, cc = ellipse(rows[pick], cols[pick], minor, major, shape=film.shape, rotation=rng.uniform(0, np.pi))
        factor[rr, cc] = np.maximum(factor[rr, cc], rng.uniform(1.3, 3.5))


def polished_pin(across_pin: np.ndarray, along_px: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Transmission of a polished metal pin's pixels: dark metal with one or two bright reflections
    of the lamp along its length (``across_pin``: distance from the pin's axis over its radius), broken
    into segments by the knurling (``along_px``: position along the axis in pixels)."""
    transmission = np.full(across_pin.shape, rng.uniform(0.04, 0.2), dtype=np.float32)
    period_px = rng.uniform(15.0, 80.0)
    duty = rng.uniform(0.5, 0.9)
    segments = (np.mod(along_px / period_px + rng.uniform(), 1.0) < duty) if rng.uniform() < 0.7 else True
    for _ in range(int(rng.integers(1, 3))):
        centre, width = rng.uniform(0.0, 0.7), rng.uniform(0.08, 0.25)
        band = np.exp(-(((across_pin - centre) / width) ** 2)) * segments
        transmission += (rng.uniform(1.5, 5.0) * band).astype(np.float32)
    return transmission


def edge_glow(opacity: np.ndarray, light_angle_rad: float, rng: np.random.Generator) -> np.ndarray:
    """Light scattered by a sample in dark field, 0-1 (peak 1) per pixel: strong along the outline of
    ``opacity`` (1 - transmission, 0-1), most where the outline faces the light (from
    ``light_angle_rad``, 0 = from the right, pi / 2 = from the top), broken into patches (``rng``), with
    a faint glow of the body; blurred as scattered light is."""
    glow = np.zeros(opacity.shape, dtype=np.float32)
    scale_px = min(opacity.shape) / 1000.0  # blur and outline widths follow the frame's size
    box = sample_box(opacity > 0, int(20 * scale_px) + 4)
    if box is None:
        return glow
    body = ndi.gaussian_filter(opacity[box].astype(np.float32), max(0.7, 1.5 * scale_px))
    d_row, d_col = np.gradient(body)
    outline = np.hypot(d_row, d_col)
    if not (outline > 0).any():
        return glow
    facing = np.clip((d_row * np.sin(light_angle_rad) - d_col * np.cos(light_angle_rad)) / np.maximum(outline, 1e-6), 0.0, 1.0)
    patches = ndi.gaussian_filter(rng.standard_normal(body.shape, dtype=np.float32), max(1.0, rng.uniform(3.0, 12.0) * scale_px))
    patches = np.clip(1.0 + patches / (patches.std() + 1e-6) * rng.uniform(0.3, 0.8), 0.0, None)
    local = outline / (np.percentile(outline[outline > 0], 99) + 1e-6) * (0.15 + 0.85 * facing) * patches
    local += rng.uniform(0.03, 0.15) * body
    local = ndi.gaussian_filter(local, max(0.5, rng.uniform(1.0, 5.0) * scale_px))
    glow[box] = local / (local.max() + 1e-6)
    return glow


def sample_box(mask: np.ndarray, margin_px: int) -> tuple[slice, slice] | None:
    """Rows and columns of ``mask``'s bounding box grown by ``margin_px`` (clipped to the frame), or
    None when ``mask`` is empty: the only part of a frame the sample's looks need computing on."""
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if not rows.size:
        return None
    return (
        slice(max(rows[0] - margin_px, 0), min(rows[-1] + margin_px + 1, mask.shape[0])),
        slice(max(cols[0] - margin_px, 0), min(cols[-1] + margin_px + 1, mask.shape[1])),
    )


def vignetting(shape_px: tuple[int, int], strength: float) -> np.ndarray:
    """Radial fall-off of the lamp's light: 1 at the centre, ``1 - strength`` at the corners."""
    rows, cols = shape_px
    y = (np.arange(rows, dtype=np.float32) - rows / 2) / (rows / 2)
    x = (np.arange(cols, dtype=np.float32) - cols / 2) / (cols / 2)
    radius2 = (y[:, None] ** 2 + x[None, :] ** 2) / 2.0
    return np.clip(1.0 - strength * radius2**1.5, 0.02, 1.0).astype(np.float32)


def camera_variety(optics, rng: np.random.Generator):
    """``optics`` with one of the lighting modes real beamlines show (``EXPOSURE_MODES``): normal;
    dim (down to an almost black frame); over-exposed (the field saturates); front-lit (the opaque
    parts reflect more light than the lamp behind them lets through); dark-field (the lamp off or nearly,
    the sample seen by the light its outline scatters, :func:`edge_glow`); with strong vignetting, and
    the objective's acceptance angle drawn for the liquid-drop lens."""
    mode = str(rng.choice(EXPOSURE_MODES, p=[0.35, 0.2, 0.15, 0.15, 0.15]))
    gain = {
        "normal": rng.uniform(0.6, 1.3),
        "dim": rng.uniform(0.03, 0.4),
        "over-exposed": rng.uniform(1.4, 2.8),
        "front-lit": rng.uniform(0.5, 1.1),
        "dark-field": rng.uniform(0.8, 1.5),
    }[mode]
    front = rng.uniform(0.5, 1.2) if mode == "front-lit" else (rng.uniform(0.3, 1.5) if mode == "dim" and rng.uniform() < 0.5 else optics.front_light)
    dark_field = mode == "dark-field"
    return dataclasses.replace(
        optics,
        exposure_gain=float(gain),
        front_light=0.0 if dark_field else float(front),
        back_light=float(rng.uniform(0.0, 0.05)) if dark_field else optics.back_light,
        edge_glow=float(rng.uniform(40.0, 220.0)) if dark_field else optics.edge_glow,
        edge_light_rad=float(rng.uniform(0.0, 2.0 * np.pi)) if dark_field else optics.edge_light_rad,
        vignetting=float(rng.uniform(0.3, 0.98)) if rng.uniform() < 0.5 else 0.0,
        acceptance_rad=float(rng.uniform(0.04, 0.2)),
    )
