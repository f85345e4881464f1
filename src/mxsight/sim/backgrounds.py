"""Empty-field backgrounds for the simulated camera: real ones per zoom when available, else procedural.

Real backgrounds (``background_mako_px2_zoom_N.jpg``, ``older_background_zoom_N.jpg``) live in the shared
data folder, which is AGPL-licensed and never copied into this repository; it is found through the
``MXSIGHT_SHARED_DATA`` environment variable (which, when set, is the only place looked at) or a
``shared/data`` folder beside a parent of the working directory.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

BACKGROUND_SETS = ("older_background", "background_mako_px2")


def find_shared_data(start: Path | None = None) -> Path | None:
    """The ``soleil_px2`` data folder, or None when it is not on this machine."""
    env = os.environ.get("MXSIGHT_SHARED_DATA")
    if env:
        candidates = [Path(env)]
    else:
        here = (start or Path.cwd()).resolve()
        candidates = [parent / "shared" / "data" for parent in (here, *here.parents)]
    for candidate in candidates:
        folder = candidate / "soleil_px2" if candidate.name != "soleil_px2" else candidate
        if (folder / "backgrounds").is_dir():
            return folder
    return None


@functools.lru_cache(maxsize=64)
def real_background(zoom: int, shape_px: tuple[int, int], background_set: str = "older_background") -> np.ndarray | None:
    """The real empty background at ``zoom`` resized to ``shape_px`` (rows, cols), or None if absent."""
    if background_set not in BACKGROUND_SETS:
        raise ValueError(f"unknown background set {background_set!r}; choose one of {BACKGROUND_SETS}")
    folder = find_shared_data()
    if folder is None:
        return None
    path = folder / "backgrounds" / f"{background_set}_zoom_{zoom}.jpg"
    if not path.exists():
        return None
    with Image.open(path) as image:
        resized = image.convert("RGB").resize((shape_px[1], shape_px[0]), Image.Resampling.BILINEAR)
    array = np.asarray(resized)
    array.setflags(write=False)
    return array


@functools.lru_cache(maxsize=16)
def procedural_background(shape_px: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A back-lit field like the real ones: warm yellow-green, bright centre, dark vignetted corners."""
    rng = np.random.default_rng(seed)
    rows, cols = shape_px
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    radius2 = ((y - rows / 2) / (0.75 * rows)) ** 2 + ((x - cols / 2) / (0.75 * cols)) ** 2
    brightness = np.clip(1.0 - 0.9 * radius2**1.5, 0.05, 1.0)
    tilt = 1.0 + 0.08 * (x / cols - 0.5) * rng.uniform(-1, 1) + 0.08 * (y / rows - 0.5) * rng.uniform(-1, 1)
    colour = np.array([205.0, 215.0, 135.0]) * rng.uniform(0.85, 1.05, size=3)
    array = np.clip(brightness[..., None] * tilt[..., None] * colour, 0, 255).astype(np.uint8)
    array.setflags(write=False)
    return array


def background_for(zoom: int, shape_px: tuple[int, int], background_set: str = "older_background") -> np.ndarray:
    """The real background for ``zoom`` when the shared data is present, else a procedural one."""
    real = real_background(zoom, shape_px, background_set)
    return real if real is not None else procedural_background(shape_px, seed=zoom)


EMPTY_FIELD_KINDS = ("flat", "vignetted", "aperture", "condensation", "blotched")


def synthetic_empty_field(shape_px: tuple[int, int], seed: int) -> np.ndarray:
    """An empty field of another camera than the seed beamline's: a lamp of any colour and brightness,
    and one of ``EMPTY_FIELD_KINDS``: flat (flat-fielded), vignetted (dark corners, off-centre lamp),
    aperture (the shadow of an aperture or collimator edge), condensation (soft dots and rings on the
    window) or blotched (large dim blobs of dirt out of focus)."""
    rng = np.random.default_rng([seed, 11])
    rows, cols = shape_px
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    y, x = y / rows - 0.5, x / cols - 0.5
    colour = rng.uniform(60, 250) * rng.uniform(0.75, 1.0, size=3)
    light = np.ones(shape_px, np.float32)
    kind = str(rng.choice(EMPTY_FIELD_KINDS))
    if kind != "flat":
        cy, cx = rng.uniform(-0.25, 0.25, 2)
        light = np.clip(1.0 - rng.uniform(0.2, 1.2) * (((y - cy) ** 2 + (x - cx) ** 2) / 0.5) ** 1.5, 0.02, 1.0)
    if kind == "aperture":
        angle, radius = rng.uniform(0, 2 * np.pi), rng.uniform(0.45, 1.2)
        centre = (radius - rng.uniform(0.05, 0.4)) * np.array([np.sin(angle), np.cos(angle)])
        inside = np.hypot(y - centre[0], x - centre[1]) < radius
        edge = ndi.gaussian_filter(inside.astype(np.float32), rng.uniform(1.0, max(1.5, 0.02 * cols)))
        light *= rng.uniform(0.0, 0.3) + (1.0 - rng.uniform(0.0, 0.3)) * edge
    elif kind in ("condensation", "blotched"):
        spots = np.zeros(shape_px, np.float32)
        count = int(rng.integers(5, 60)) if kind == "condensation" else int(rng.integers(1, 5))
        for _ in range(count):
            r0, c0 = rng.uniform(0, rows), rng.uniform(0, cols)
            size = rng.uniform(0.005, 0.03) * cols if kind == "condensation" else rng.uniform(0.1, 0.3) * cols
            distance = np.hypot(y * rows - (r0 - rows / 2), x * cols - (c0 - cols / 2)) / size
            profile = np.exp(-((distance - 1.0) / 0.3) ** 2) if rng.uniform() < 0.5 else np.exp(-(distance**2))
            spots += rng.uniform(0.05, 0.3) * profile
        light *= np.clip(1.0 - spots, 0.05, 1.0)
    array = np.clip(light[..., None] * colour, 0, 255).astype(np.uint8)
    return array
