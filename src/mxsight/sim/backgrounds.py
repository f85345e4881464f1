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
