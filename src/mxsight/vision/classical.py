"""The classical segmenter beamlines use today, written properly.

1. Foreground: pixels darker than the empty-field background by more than a relative and an absolute
   threshold. The background is the beamline's reference image for the zoom when given, else an
   estimate (a smooth polynomial fitted to the frame, leaving out pixels darker than the fit).
2. The largest connected object that reaches the frame's edge is the sample (a mounted sample enters
   the view on its pin; dust, drops on the window and shadows that reach no edge are not it), when it
   covers at least ``MIN_SAMPLE_FRACTION`` of the frame (at any zoom the pin or the loop in view is
   larger; dust on the optics that touches the edge is not); holes are filled (the loop's film is
   foreground).
3. Sum curves: the foreground's extent per column along the spindle gives the pin (wide, at the image
   edge), the stem (narrow) and the loop (the widening beyond the stem, up to the tip).
4. The loop's inside is the part of the loop region enclosed by its dark rim.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import label
from skimage.morphology import remove_small_objects
from skimage.transform import resize

from mxsight.notions import NOTIONS
from mxsight.vision.prediction import Prediction
from mxsight.vision.segmenter import Segmenter

MIN_BACKGROUND_LEVEL = 15.0
EDGE_FRACTION = 0.01  # how near the frame's edge (a share of its shorter side) an object must come to enter it
MIN_SAMPLE_FRACTION = 0.001  # the least share of the frame a mounted sample in view covers


def edge_margin_px(shape: tuple[int, ...], at_least_px: int = 1) -> int:
    """How near the edge of a frame of ``shape`` an object must come to enter the view: ``EDGE_FRACTION``
    of its shorter side, and at least ``at_least_px``."""
    return max(at_least_px, int(round(EDGE_FRACTION * min(shape[:2]))))


def objects_entering_the_view(labels: np.ndarray) -> np.ndarray:
    """The labels (of a connected-component ``labels`` image, 0 for none) of the objects that come within
    :func:`edge_margin_px` of the frame's edge: those a sample on its pin can be."""
    margin = edge_margin_px(labels.shape)
    border = np.concatenate([labels[:margin].ravel(), labels[-margin:].ravel(), labels[:, :margin].ravel(), labels[:, -margin:].ravel()])
    return np.setdiff1d(np.unique(border), [0])


def estimate_background(grey: np.ndarray, degree: int = 6, factor: int = 8, iterations: int = 10) -> np.ndarray:
    """Empty-field estimate of a back-lit frame: a smooth 2-D polynomial fitted to a downsampled frame,
    iteratively excluding pixels darker than the fit (the sample is darker than the field)."""
    small = grey[::factor, ::factor].astype(np.float64)
    rows = np.linspace(-1, 1, small.shape[0])
    cols = np.linspace(-1, 1, small.shape[1])
    basis_r = np.polynomial.legendre.legvander(rows, degree)
    basis_c = np.polynomial.legendre.legvander(cols, degree)
    terms = [(i, j) for i in range(degree + 1) for j in range(degree + 1 - i)]
    design = np.stack([np.outer(basis_r[:, i], basis_c[:, j]).ravel() for i, j in terms], axis=1)
    values = small.ravel()
    keep = values > MIN_BACKGROUND_LEVEL
    fit = np.full_like(values, values.mean())
    for _ in range(iterations):
        coefficients, *_ = np.linalg.lstsq(design[keep], values[keep], rcond=None)
        fit = design @ coefficients
        residual = values - fit
        spread = 1.4826 * np.median(np.abs(residual[keep])) + 1e-6
        updated = residual > -2.5 * spread
        if np.array_equal(updated, keep):
            break
        keep = updated
    return resize(fit.reshape(small.shape), grey.shape, order=1, preserve_range=True).astype(np.float32)


def empty_field_foreground(
    image: np.ndarray,
    background: np.ndarray,
    *,
    relative_threshold: float = 0.05,
    absolute_threshold: float = 6.0,
    min_object_px: int = 200,
) -> np.ndarray:
    """Pixels of an RGB ``image`` darker than the empty field ``background`` (RGB or grey, resized to
    the image when its size differs) by more than ``relative_threshold`` of the field's level and
    ``absolute_threshold`` grey levels, less specks under ``min_object_px`` pixels: the sample, whatever
    a segmenter calls it. Fields darker than ``MIN_BACKGROUND_LEVEL`` tell nothing and are left out."""
    grey = np.asarray(image, dtype=np.float32).mean(axis=2)
    field = np.asarray(background, dtype=np.float32)
    field = field.mean(axis=-1) if field.ndim == 3 else field
    if field.shape != grey.shape:
        field = resize(field, grey.shape, preserve_range=True).astype(np.float32)
    darkness = field - grey
    threshold = np.maximum(absolute_threshold, relative_threshold * field)
    foreground = (darkness > threshold) & (field > MIN_BACKGROUND_LEVEL)
    foreground = ndi.binary_opening(foreground, iterations=1)
    return remove_small_objects(foreground, max_size=min_object_px)


class ClassicalSegmenter(Segmenter):
    """Background subtraction plus sum curves; the baseline and the fallback."""

    name = "classical"
    version = "1"

    def __init__(
        self,
        background: np.ndarray | None = None,
        spindle: str = "horizontal",
        relative_threshold: float = 0.05,
        absolute_threshold: float = 6.0,
        rim_darkness: float = 0.22,
        min_object_px: int = 200,
        min_sample_fraction: float = MIN_SAMPLE_FRACTION,
    ):
        if spindle not in ("horizontal", "vertical"):
            raise ValueError(f"spindle must be 'horizontal' or 'vertical', got {spindle!r}")
        self.background = None if background is None else np.asarray(background, dtype=np.float32)
        self.spindle = spindle
        self.relative_threshold = relative_threshold
        self.absolute_threshold = absolute_threshold
        self.rim_darkness = rim_darkness
        self.min_object_px = min_object_px
        self.min_sample_fraction = min_sample_fraction

    def for_background(self, background: np.ndarray | None) -> "ClassicalSegmenter":
        """The same thresholds against another empty field (the background changes with the zoom)."""
        return ClassicalSegmenter(
            background,
            self.spindle,
            self.relative_threshold,
            self.absolute_threshold,
            self.rim_darkness,
            self.min_object_px,
            self.min_sample_fraction,
        )

    def _predict_usable(self, images: list[np.ndarray]) -> list[Prediction]:
        return [self._segment(image) for image in images]

    def _background_grey(self, grey: np.ndarray) -> np.ndarray:
        if self.background is not None:
            if self.background.shape[:2] != grey.shape:
                return resize(self.background.mean(axis=-1), grey.shape, preserve_range=True).astype(np.float32)
            return self.background.mean(axis=-1) if self.background.ndim == 3 else self.background
        return estimate_background(grey)

    def _segment(self, image: np.ndarray) -> Prediction:
        transposed = self.spindle == "vertical"
        if transposed:
            image = np.swapaxes(image, 0, 1)
        grey = image.astype(np.float32).mean(axis=2)
        background = self._background_grey(grey)
        darkness = background - grey
        threshold = np.maximum(self.absolute_threshold, self.relative_threshold * background)
        foreground = (darkness > threshold) & (background > MIN_BACKGROUND_LEVEL)
        foreground = ndi.binary_opening(foreground, iterations=1)
        foreground = remove_small_objects(foreground, max_size=self.min_object_px)
        labels = label(foreground)
        entering = objects_entering_the_view(labels)
        sizes = np.zeros(labels.max() + 1, dtype=np.int64)
        sizes[entering] = np.bincount(labels.ravel())[entering]
        if not sizes.any() or sizes.max() < self.min_sample_fraction * labels.size:  # nothing, or only dust, enters
            return Prediction.empty(grey.shape if not transposed else grey.shape[::-1])
        foreground = ndi.binary_fill_holes(labels == sizes.argmax())
        strong = foreground & (darkness > self.rim_darkness * np.maximum(background, 1.0))
        masks = self._split_by_sum_curves(foreground, strong)
        score = np.clip(darkness / np.maximum(2 * threshold, 1.0), 0.0, 1.0).astype(np.float32)
        probabilities = {notion: np.where(masks[notion], np.maximum(score, 0.5), 0.0).astype(np.float32) for notion in NOTIONS}
        inside, loop = masks["loop_inside"], masks["loop"]
        click_source = inside if inside.any() else loop
        rows, cols = np.nonzero(click_source)
        click = (float(rows.mean()), float(cols.mean())) if rows.size else None
        if transposed:
            masks = {k: v.T for k, v in masks.items()}
            probabilities = {k: v.T for k, v in probabilities.items()}
            click = None if click is None else (click[1], click[0])
        return Prediction(masks=masks, probabilities=probabilities, click=click, present=bool(loop.any()))

    def _split_by_sum_curves(self, foreground: np.ndarray, strong: np.ndarray) -> dict[str, np.ndarray]:
        """Pin, stem and loop from the foreground's height per column (spindle along columns)."""
        n_cols = foreground.shape[1]
        height = foreground.sum(axis=0).astype(np.float32)
        columns = np.nonzero(height)[0]
        pin_on_left = height[: n_cols // 20].sum() >= height[-(n_cols // 20) :].sum()
        if not pin_on_left:
            height = height[::-1]
            foreground, strong = foreground[:, ::-1], strong[:, ::-1]
            columns = np.nonzero(height)[0]
        first, tip = int(columns.min()), int(columns.max())
        smooth = np.zeros_like(height)  # empty columns before the sample (a border) must not pull its base down
        smooth[first:] = ndi.uniform_filter1d(height[first:], 5)
        enters_from_the_side = first < edge_margin_px(foreground.shape)
        pin_end = first
        if enters_from_the_side:
            edge_height = float(np.median(smooth[first : first + max(3, n_cols // 100)]))
            below = np.nonzero(smooth[first : tip + 1] < 0.5 * edge_height)[0]
            pin_end = first + int(below[0]) if below.size else tip + 1
        loop_start = self._loop_start(smooth, pin_end, tip)
        cols = np.arange(n_cols)
        pin = foreground & (cols < pin_end)[None, :]
        loop_region = (cols >= loop_start)[None, :]
        loop = foreground & loop_region
        stem = foreground & ~pin & ~loop
        rim = strong & loop_region
        inside = ndi.binary_fill_holes(rim) & ~rim & loop
        inside = remove_small_objects(inside, max_size=20)
        masks = {notion: np.zeros_like(foreground) for notion in NOTIONS}
        masks.update(foreground=foreground, pin=pin, stem=stem, loop=loop, loop_inside=inside)
        if not pin_on_left:
            masks = {k: v[:, ::-1] for k, v in masks.items()}
        return masks

    @staticmethod
    def _loop_start(height: np.ndarray, pin_end: int, tip: int) -> int:
        """First column of the loop: where, walking from the loop's widest column towards the pin, the
        height falls to 30% of the way from the stem's width to the loop's."""
        if tip - pin_end < 4:
            return pin_end
        segment = height[pin_end : tip + 1]
        peak = int(np.argmax(segment[len(segment) // 4 :])) + len(segment) // 4
        stem_width = float(segment[: peak + 1].min())
        if segment[peak] - stem_width < 4:
            return pin_end + int(0.65 * len(segment))
        level = stem_width + 0.3 * (segment[peak] - stem_width)
        below = np.nonzero(segment[: peak + 1] <= level)[0]
        return pin_end + (int(below[-1]) + 1 if below.size else 0)
