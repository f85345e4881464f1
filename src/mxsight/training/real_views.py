"""Training views of the real labelled frames of the training split.

A handful of real frames cannot teach a network much as they are; many views of each can: the whole
frame, and windows around the sample at every scale between the whole frame and the fine pass's
window around the loop, each resampled to the training shape. The pipeline then swaps their empty
field for other cameras' (``background_swap``) and augments colour, blur, noise, scale and rotation.
Frames of the evaluation split are never written: ``data/real/splits.toml`` holds them out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from mxsight.notions import NOTIONS
from mxsight.training.dataset_format import DatasetWriter, Example
from mxsight.training.real_data import Split, real_examples

LOOP_REGION = ("loop", "loop_inside", "crystal")


def _box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if not rows.size:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _window(example: Example, rng: np.random.Generator, aspect: float) -> tuple[int, int, int, int]:
    """A window (row0, row1, col0, col1) of the frame's aspect ``aspect`` (cols / rows) holding the
    loop region (else the foreground) with a random margin, anywhere between the loop's size and the
    whole frame."""
    rows, cols = example.image.shape[:2]
    loop = np.logical_or.reduce([example.masks[n] for n in LOOP_REGION if n in example.masks])
    box = _box(loop) or _box(example.masks["foreground"]) or (0, rows, 0, cols)
    height = max(box[1] - box[0], (box[3] - box[2]) / aspect)
    full = min(rows, cols / aspect)
    height = min(full, height * rng.uniform(1.3, max(1.35, full / max(height, 1.0))))
    width = height * aspect
    centre_row = (box[0] + box[1]) / 2 + rng.uniform(-0.25, 0.25) * height
    centre_col = (box[2] + box[3]) / 2 + rng.uniform(-0.25, 0.25) * width
    row0 = int(np.clip(centre_row - height / 2, 0, rows - height))
    col0 = int(np.clip(centre_col - width / 2, 0, cols - width))
    return row0, row0 + int(height), col0, col0 + int(width)


def _resampled(example: Example, window: tuple[int, int, int, int], shape_px: tuple[int, int]) -> Example:
    row0, row1, col0, col1 = window
    size = (shape_px[1], shape_px[0])
    image = np.asarray(Image.fromarray(example.image[row0:row1, col0:col1]).resize(size, Image.Resampling.BILINEAR))
    masks = {n: np.asarray(Image.fromarray(m[row0:row1, col0:col1]).resize(size, Image.Resampling.NEAREST)) for n, m in example.masks.items()}
    click = None
    if example.click_px is not None:
        row = (example.click_px[0] - row0) * shape_px[0] / (row1 - row0)
        col = (example.click_px[1] - col0) * shape_px[1] / (col1 - col0)
        click = (row, col) if 0 <= row < shape_px[0] and 0 <= col < shape_px[1] else None
    metadata = {**example.metadata, "origin": "real", "window_px": list(window)}
    return Example(image=image, masks=masks, click_px=click, metadata=metadata)


def real_training_views(split: Split = "training", *, views_per_frame: int = 40, shape_px: tuple[int, int] = (256, 320), seed: int = 0, root: Path | None = None):
    """Yield ``views_per_frame`` views of each labelled real frame of ``split`` (the first the whole
    frame), at ``shape_px`` (rows, cols). Refuses the evaluation split."""
    if split != "training":
        raise ValueError("only the training split's real frames may become training data; the evaluation split is held out")
    if views_per_frame < 1:
        raise ValueError(f"views_per_frame must be at least 1, got {views_per_frame}")
    for index, example in enumerate(real_examples(split, root=root)):
        rng = np.random.default_rng([seed, index])
        rows, cols = example.image.shape[:2]
        masks = {n: example.masks[n] for n in NOTIONS if n in example.masks}
        example = Example(example.image, masks, example.click_px, example.metadata)
        yield _resampled(example, (0, rows, 0, cols), shape_px)
        aspect = shape_px[1] / shape_px[0]
        for _ in range(views_per_frame - 1):
            yield _resampled(example, _window(example, rng, aspect), shape_px)


def write_real_training_views(out: Path | str, **kwargs) -> int:
    """Write :func:`real_training_views` as a dataset at ``out``; return the number of views."""
    count = 0
    with DatasetWriter(out) as writer:
        for view in real_training_views(**kwargs):
            writer.add(view)
            count += 1
    return count
