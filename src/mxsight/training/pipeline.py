"""``tf.data`` input pipeline: dataset examples -> (image, 9 target maps) batches with augmentation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mxsight.notions import NOTIONS
from mxsight.training.dataset_format import LabelledDataset

CLICK_SIGMA_FRACTION = 0.02


def _targets(image, packed, click, shape):
    """Resize to ``shape`` and expand packed masks into 8 float channels plus a Gaussian click map
    (sigma = 2% of the diagonal; all zero when the example has no click)."""
    import tensorflow as tf

    rows, cols = shape
    height = tf.cast(tf.shape(image)[0], tf.float32)
    width = tf.cast(tf.shape(image)[1], tf.float32)
    image = tf.image.resize(tf.cast(image, tf.float32), shape, method="bilinear")
    bits = tf.bitwise.bitwise_and(tf.cast(packed[..., None], tf.int32), tf.constant([1 << i for i in range(len(NOTIONS))], tf.int32))
    masks = tf.cast(bits > 0, tf.float32)
    masks = tf.image.resize(masks, shape, method="nearest")
    click_row = click[0] * rows / height
    click_col = click[1] * cols / width
    grid_r = tf.range(rows, dtype=tf.float32)[:, None]
    grid_c = tf.range(cols, dtype=tf.float32)[None, :]
    sigma = CLICK_SIGMA_FRACTION * tf.sqrt(float(rows**2 + cols**2))
    heat = tf.exp(-((grid_r - click_row) ** 2 + (grid_c - click_col) ** 2) / (2 * sigma**2))
    heat = tf.where(tf.math.is_finite(click_row), heat, tf.zeros_like(heat))
    return image, tf.concat([masks, heat[..., None]], axis=-1)


def _augment(image, targets, seed):
    """Flips, channel swaps, brightness / contrast / gamma; geometric changes apply to the targets too."""
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(seed, 6)
    if tf.random.stateless_uniform([], seeds[0]) < 0.5:
        image, targets = tf.image.flip_left_right(image), tf.image.flip_left_right(targets)
    if tf.random.stateless_uniform([], seeds[1]) < 0.5:
        image, targets = tf.image.flip_up_down(image), tf.image.flip_up_down(targets)
    if tf.random.stateless_uniform([], seeds[2]) < 0.3:
        image = tf.gather(image, tf.random.experimental.stateless_shuffle(tf.range(3), seeds[3]), axis=-1)
    image = image / 255.0
    image = tf.image.stateless_random_brightness(image, 0.15, seeds[4])
    image = tf.image.stateless_random_contrast(image, 0.7, 1.3, seeds[5])
    gamma = tf.random.stateless_uniform([], seeds[0], 0.7, 1.4)
    image = tf.clip_by_value(image, 0.0, 1.0) ** gamma
    return image * 255.0, targets


def make_dataset(
    directories: Sequence[Path | str],
    *,
    image_shape: tuple[int, int],
    batch_size: int,
    augment: bool,
    seed: int,
    repeat: bool = False,
):
    """Batches of (images float32 0-255, targets float32 with channels NOTIONS + click)."""
    import tensorflow as tf

    if not directories:
        raise ValueError("no dataset directories given")
    parts = [LabelledDataset(directory).tf_dataset(shuffle_seed=seed if augment else None) for directory in directories]
    data = parts[0]
    for part in parts[1:]:
        data = data.concatenate(part)
    if augment:
        data = data.shuffle(256, seed=seed, reshuffle_each_iteration=True)
    data = data.map(lambda i, m, c: _targets(i, m, c, image_shape), num_parallel_calls=tf.data.AUTOTUNE)
    if repeat:
        data = data.repeat()
    if augment:
        counter = tf.data.Dataset.counter()
        data = tf.data.Dataset.zip((data, counter)).map(
            lambda pair, n: _augment(pair[0], pair[1], tf.stack([tf.cast(seed, tf.int64), n])),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)
