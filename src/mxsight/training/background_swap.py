"""Background swaps: show a labelled sample in front of another empty field (another zoom, lamp,
camera or beamline), the augmentation that makes a network indifferent to unusual backgrounds.

A back-lit frame is the empty field times the sample's transmission. The old field is estimated from
the pixels off the sample (averaged on a coarse grid, so the estimate is smooth and fills in behind the
sample), the transmission is the frame divided by it, and the new frame is that transmission times
the new field.
"""

from __future__ import annotations

import numpy as np

from mxsight.sim.backgrounds import BACKGROUND_SETS, procedural_background, real_background, synthetic_empty_field

COARSE_GRID = (12, 15)
MAX_TRANSMISSION = 1.3


def swap_background(image, foreground, new_background):
    """``image`` (rows, cols, 3) float 0-255 with ``foreground`` (rows, cols) in [0, 1], re-lit by
    ``new_background`` (rows, cols, 3) float 0-255. TensorFlow ops, usable inside ``tf.data``."""
    import tensorflow as tf

    shape = tf.shape(image)[:2]
    empty = (1.0 - tf.cast(foreground, tf.float32))[..., None]
    coarse_sum = tf.image.resize(image * empty, COARSE_GRID, method="area")
    coarse_weight = tf.image.resize(empty, COARSE_GRID, method="area")
    mean_field = tf.reduce_sum(image * empty, axis=(0, 1)) / tf.maximum(tf.reduce_sum(empty), 1.0)
    coarse_field = tf.where(coarse_weight > 0.05, coarse_sum / tf.maximum(coarse_weight, 1e-6), mean_field)
    old_field = tf.image.resize(coarse_field, shape, method="bilinear")
    transmission = tf.clip_by_value(image / tf.maximum(old_field, 1.0), 0.0, MAX_TRANSMISSION)
    return tf.clip_by_value(transmission * new_background, 0.0, 255.0)


def empty_fields(shape_px: tuple[int, int]) -> tuple[np.ndarray, str]:
    """Empty fields to swap in, at ``shape_px``: the real ones of every zoom and set when the shared
    data is on this machine, else procedural ones; and a word saying which."""
    real = [real_background(zoom, shape_px, name) for name in BACKGROUND_SETS for zoom in range(1, 11)]
    real = [field for field in real if field is not None]
    if real:
        return np.stack(real), f"{len(real)} real empty fields"
    return np.stack([procedural_background(shape_px, seed) for seed in range(10)]), "10 procedural empty fields"


SYNTHETIC_FIELDS = 48
LIT_FIELD_MEAN = 20.0


def training_empty_fields(shape_px: tuple[int, int], synthetic: int = SYNTHETIC_FIELDS) -> tuple[np.ndarray, str]:
    """Empty fields for training, at ``shape_px``: every real field of the training split's camera
    set-ups (``data/real/splits.toml``; never an evaluation set-up) when the shared data is on this
    machine, and ``synthetic`` fields of other kinds of camera (``synthetic_empty_field``); and a
    phrase saying what they are. Many cameras, so that "nothing mounted" is learnt as such, not as
    one beamline's few fields."""
    from PIL import Image

    from mxsight.training.real_data import RealDataMissing, empty_field_paths, read_rgb

    fields = [synthetic_empty_field(shape_px, seed) for seed in range(synthetic)]
    try:
        paths = empty_field_paths("training")
    except RealDataMissing:
        paths = []
    size = (shape_px[1], shape_px[0])
    fields += [np.asarray(Image.fromarray(read_rgb(path)).resize(size, Image.Resampling.BILINEAR)) for path in paths]
    return np.stack(fields), f"{len(paths)} real empty fields of the training split and {synthetic} synthetic ones"
