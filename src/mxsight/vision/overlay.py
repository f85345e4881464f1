"""Colour overlays of masks on frames, for reports and contact sheets."""

from __future__ import annotations

import numpy as np

OVERLAY_COLOURS: dict[str, tuple[float, float, float]] = {
    "pin": (0.2, 0.4, 1.0),
    "stem": (1.0, 0.6, 0.0),
    "capillary": (0.6, 0.6, 0.6),
    "loop": (0.0, 0.9, 0.3),
    "loop_inside": (1.0, 0.1, 0.6),
    "ice": (0.0, 1.0, 1.0),
    "crystal": (1.0, 1.0, 0.0),
}


def overlay_masks(image: np.ndarray, masks: dict[str, np.ndarray], opacity: float = 0.45) -> np.ndarray:
    """Float RGB image in [0, 1] with each notion's mask tinted, later notions (crystal) on top."""
    blended = image.astype(np.float32) / 255.0
    for notion, colour in OVERLAY_COLOURS.items():
        mask = masks.get(notion)
        if mask is not None and mask.any():
            blended[mask] = (1 - opacity) * blended[mask] + opacity * np.array(colour, dtype=np.float32)
    return blended
