"""What a segmenter returns for one frame, and the checks that decide whether a frame is usable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from mxsight.notions import NOTIONS, pack_masks

BLACK_MEAN_LEVEL = 8.0
SATURATED_LEVEL = 250
SATURATED_FRACTION = 0.9
UNIFORM_STD_LEVEL = 1.0
# A frame is "unsure" when more than this share of the sample's pixels have loop-notion probabilities
# between 0.25 and 0.75 (``extras["uncertain_fraction"]``). On simulated sweeps, frames whose masks
# were right gave 0.03-0.11, frames whose loop mask was wrong (a large crystal, ice on the rim) 0.12-0.45.
UNSURE_FRACTION = 0.12


@dataclass
class Prediction:
    """Per-pixel labels of one frame at the frame's own resolution.

    ``present`` says whether a sample was found; ``problem`` names why not when the frame itself is
    unusable (black, saturated, uniform), so that plans can report the right failure. ``packed`` is
    the same masks as uint8 bit flags (:func:`mxsight.notions.pack_masks`) when the segmenter made
    them that way; the masks are not to be changed after the prediction is made. ``labelled_region``
    (top, left, rows, cols in frame pixels) is the part of the frame the segmenter looked at when it
    did not look at all of it (a frame tracked from the one before, see :meth:`Segmenter.track`):
    outside it every notion is unknown, not absent. None: the whole frame was labelled.
    """

    masks: dict[str, np.ndarray]
    probabilities: Mapping[str, np.ndarray]
    click: tuple[float, float] | None
    present: bool
    problem: str | None = None
    extras: dict[str, object] = field(default_factory=dict)
    packed: np.ndarray | None = None
    labelled_region: tuple[int, int, int, int] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the frame."""
        rows, cols = next(iter(self.masks.values())).shape
        return int(rows), int(cols)

    def region(self) -> tuple[int, int, int, int]:
        """(top, left, rows, cols) of the labelled part of the frame: all of it unless tracked."""
        return self.labelled_region if self.labelled_region is not None else (0, 0, *self.shape)

    def packed_masks(self) -> np.ndarray:
        """The masks as one uint8 bit-flag map, the form each frame's prediction is recorded in."""
        return self.packed if self.packed is not None else pack_masks(self.masks)

    @property
    def uncertain_fraction(self) -> float:
        """How unsure the segmenter is where the alignment looks (0 when it does not say)."""
        return float(self.extras.get("uncertain_fraction", 0.0))

    @property
    def unsure_reason(self) -> str:
        """Why the frame failed its self-check (:mod:`mxsight.vision.self_check`), "" when it passed or
        was not checked. Plans never fit a move to such a frame."""
        return str(self.extras.get("unsure_reason", ""))

    @property
    def unsure(self) -> bool:
        """Worth a human look before this frame's masks are trusted as labels: the segmenter is unsure
        of the loop's pixels (``UNSURE_FRACTION``) or the frame failed its self-check."""
        return self.uncertain_fraction > UNSURE_FRACTION or bool(self.unsure_reason)

    @classmethod
    def empty(cls, shape: tuple[int, int], problem: str | None = None) -> "Prediction":
        masks = {notion: np.zeros(shape, dtype=bool) for notion in NOTIONS}
        probabilities = {notion: np.zeros(shape, dtype=np.float32) for notion in NOTIONS}
        return cls(masks=masks, probabilities=probabilities, click=None, present=False, problem=problem)


def validate_frame(image: np.ndarray) -> np.ndarray:
    """Check a frame and return it as H x W x 3 uint8 RGB; raise a ValueError that names the problem.

    Monochrome cameras are common on beamlines: a grayscale frame (H x W or H x W x 1 uint8) is
    accepted and repeated into three channels. Other dtypes are refused rather than guessed at
    (a float frame may be 0-1 or 0-255), and so are empty frames and frames with NaNs.
    """
    image = np.asarray(image)
    if image.size == 0:
        raise ValueError(f"empty frame (shape {image.shape})")
    if image.dtype.kind == "f" and np.isnan(image).any():
        raise ValueError(f"frame contains NaN values ({int(np.isnan(image).sum())} pixels)")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 frame, got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB frame of shape (rows, cols, 3) or a grayscale frame (rows, cols), got shape {image.shape}")
    if min(image.shape[:2]) < 16:
        raise ValueError(f"frame of {image.shape[0]}x{image.shape[1]} pixels is too small to segment")
    return image


def frame_problem(image: np.ndarray) -> str | None:
    """Why a valid frame cannot show a sample (black, saturated or uniform), or None if it can.
    Judged on every 4th pixel of every 4th row: the statistics are the same, at a 16th of the cost."""
    image = image[::4, ::4] if min(image.shape[:2]) >= 64 else image
    grey = image.mean(axis=2)
    if grey.mean() < BLACK_MEAN_LEVEL:
        return f"black frame (mean level {grey.mean():.1f} < {BLACK_MEAN_LEVEL})"
    saturated = float((image.min(axis=2) >= SATURATED_LEVEL).mean())
    if saturated > SATURATED_FRACTION:
        return f"saturated frame ({100 * saturated:.0f}% of pixels at >= {SATURATED_LEVEL})"
    if grey.std() < UNIFORM_STD_LEVEL:
        return f"uniform frame (standard deviation {grey.std():.2f})"
    return None
