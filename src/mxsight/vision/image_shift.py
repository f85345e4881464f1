"""How far a sample moved between camera frames, by phase correlation (scikit-image), with the static
background taken out.

Frames of a moving sample also show things that do not move (the empty field's shading, dust on the
optics, the frame's edges), and a plain correlation of two frames can lock onto them. Differences cancel
them: for frames at three evenly spaced motor positions, ``I1 - I0`` and ``I2 - I1`` show only what
moved, and the second is the first shifted by one step. For a rotation by 180 degrees, ``I180 - I0`` is
odd about the rotation axis (the silhouette at 180 is the one at 0 mirrored about the axis), which
gives the axis's position. Both correlate band-passed, windowed images (edges, not shading).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.filters import difference_of_gaussians, window
from skimage.registration import phase_cross_correlation

UPSAMPLE = 20  # correlation peak located to 1/20 px
BAND_PX = (1.0, 8.0)  # difference-of-Gaussians band: pixel noise below, illumination shading above


def gray(frame: np.ndarray) -> np.ndarray:
    """A frame (H, W) or (H, W, C) as float grey levels."""
    frame = np.asarray(frame, dtype=np.float64)
    return frame.mean(axis=2) if frame.ndim == 3 else frame


def _prepare(image: np.ndarray) -> np.ndarray:
    return difference_of_gaussians(image, *BAND_PX) * window("hann", image.shape)


@dataclass(frozen=True)
class Shift:
    """A displacement in pixels (rows, columns) and the correlation's normalised error (0: a perfect
    match, 1: none)."""

    rows_px: float
    cols_px: float
    error: float

    @property
    def length_px(self) -> float:
        return float(np.hypot(self.rows_px, self.cols_px))


def displacement(reference: np.ndarray, moved: np.ndarray) -> Shift:
    """How far the content of ``reference`` moved to appear as in ``moved`` (moved(x) = reference(x - d))."""
    if reference.shape != moved.shape:
        raise ValueError(f"frames of different shapes: {reference.shape} and {moved.shape}")
    shift, error, _ = phase_cross_correlation(_prepare(reference), _prepare(moved), upsample_factor=UPSAMPLE, normalization=None)
    return Shift(float(-shift[0]), float(-shift[1]), float(error))


def step_displacement(frames: list[np.ndarray]) -> Shift:
    """The image displacement per motor step from frames at three evenly spaced positions: the
    difference of the last two is the difference of the first two moved by one step."""
    if len(frames) != 3:
        raise ValueError(f"three frames at evenly spaced positions are needed, got {len(frames)}")
    first, second, third = (gray(frame) for frame in frames)
    return displacement(second - first, third - second)


def mirror_axis_px(frame_0: np.ndarray, frame_180: np.ndarray, axis: int) -> tuple[float, float]:
    """Where the rotation axis lies along image axis ``axis`` (0: rows, 1: columns; the one across the
    spindle) from frames half a turn apart, and the shift found along the other axis (which half a
    turn cannot cause: near 0 when the measurement is sound). The difference D = I180 - I0 is odd
    about the axis c: D(2c - v) = -D(v), so -D mirrored along ``axis`` is D shifted by N - 1 - 2c."""
    difference = gray(frame_180) - gray(frame_0)
    mirrored = -np.flip(difference, axis=axis)
    shift = displacement(difference, mirrored)
    across, along = (shift.rows_px, shift.cols_px) if axis == 0 else (shift.cols_px, shift.rows_px)
    return (difference.shape[axis] - 1 - across) / 2.0, along
