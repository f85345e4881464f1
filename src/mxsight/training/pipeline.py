"""``tf.data`` input pipeline: dataset examples -> (image, 9 target maps) batches with augmentation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mxsight.notions import NOTIONS
from mxsight.training.augmentation import augment_example, random_crop
from mxsight.training.background_swap import LIT_FIELD_MEAN, swap_background, training_empty_fields
from mxsight.training.dataset_format import LabelledDataset

CLICK_SIGMA_FRACTION = 0.02
UNLABELLED = -1.0  # target value of a map the example does not label: the loss ignores it


def _targets(image, packed, click, labelled, shape):
    """Transpose an example of the transposed shape (a vertical-spindle view), resize to ``shape``
    and expand packed masks into 8 float channels plus a Gaussian click map
    (sigma = 2% of the diagonal; all zero when the example has no click); maps the example does not
    label (``labelled`` False) are ``UNLABELLED``."""
    import tensorflow as tf

    rows, cols = shape
    if rows != cols and tf.shape(image)[0] == cols and tf.shape(image)[1] == rows:
        image, packed = tf.transpose(image, (1, 0, 2)), tf.transpose(packed)
        click = tf.reverse(click, [0])
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
    targets = tf.concat([masks, heat[..., None]], axis=-1)
    targets = tf.where(labelled[None, None, :], targets, tf.fill(tf.shape(targets), UNLABELLED))
    return tf.ensure_shape(image, (rows, cols, 3)), tf.ensure_shape(targets, (rows, cols, len(NOTIONS) + 1))


def _own_field_mean(image, foreground):
    """Mean grey level of ``image`` off the sample (``foreground`` in [0, 1]); TensorFlow ops."""
    import tensorflow as tf

    off_sample = 1.0 - tf.cast(foreground, tf.float32)
    return tf.reduce_sum(tf.reduce_mean(image, axis=-1) * off_sample) / tf.maximum(tf.reduce_sum(off_sample), 1.0)


def _empty_field(field, targets, gain_draw, seed):
    """An empty field (rows, cols, 3, float 0-255) as an example: gain 0.8-1.2, Gaussian camera noise
    (sigma 2 grey levels), and ``targets`` with every labelled map set to zero (unlabelled stay so)."""
    import tensorflow as tf

    noise = tf.random.stateless_normal(tf.shape(field), seed, stddev=2.0)
    image = tf.clip_by_value(field * (0.8 + 0.4 * gain_draw) + noise, 0.0, 255.0)
    return image, tf.where(targets < 0.0, targets, tf.zeros_like(targets))


def _concatenated(parts):
    data = parts[0]
    for part in parts[1:]:
        data = data.concatenate(part)
    return data


def draw_weights(sizes: Sequence[int], shares: Sequence[float | None] | None = None) -> list[float]:
    """Each training dataset's share of the draws: the share set for it where one is (``None``: not
    set), the rest split among the others in proportion to their sizes. A handful of real frames
    among thousands of simulated views is then seen as often as asked, not as rarely as its count."""
    shares = list(shares) if shares is not None else [None] * len(sizes)
    if len(shares) != len(sizes):
        raise ValueError(f"{len(shares)} draw shares for {len(sizes)} datasets")
    if any(share is not None and not 0.0 < share <= 1.0 for share in shares):
        raise ValueError(f"draw shares must be within (0, 1], got {[s for s in shares if s is not None]}")
    fixed = sum(share for share in shares if share is not None)
    rest = [size for size, share in zip(sizes, shares) if share is None]
    if rest and fixed >= 1.0:
        raise ValueError(f"draw shares add up to {fixed:g}, leaving nothing for the other datasets")
    if not rest and abs(fixed - 1.0) > 1e-6:
        raise ValueError(f"draw shares of every dataset must add up to 1, got {fixed:g}")
    left = (1.0 - fixed) / float(sum(rest)) if rest else 0.0
    return [share if share is not None else size * left for size, share in zip(sizes, shares)]


def _mixed(parts, weights: list[float], seed: int):
    """The datasets' examples drawn at random with these weights (``draw_weights``), so each stretch
    of training sees all of them: concatenated, a small dataset (say, ice-rich views added to a large
    one) came only at the end of each pass, past the reach of the shuffle buffer."""
    import tensorflow as tf

    if len(parts) == 1:
        return parts[0]
    return tf.data.Dataset.sample_from_datasets(parts, weights=weights, seed=seed, rerandomize_each_iteration=True)


def _read(dataset: LabelledDataset, in_memory: bool, shuffle_seed: int | None):
    """Examples of one dataset; ``in_memory`` reads it whole first. Examples whose size is the
    transpose of the training shape (vertical-spindle views) are put in that shape by ``_targets``."""
    import tensorflow as tf

    if not in_memory:
        return dataset.tf_dataset(shuffle_seed=shuffle_seed)
    parts = []
    for arrays in dataset.arrays_by_shape():
        if shuffle_seed is not None:
            order = np.random.default_rng(shuffle_seed).permutation(len(arrays[0]))
            arrays = tuple(array[order] for array in arrays)
        parts.append(tf.data.Dataset.from_tensor_slices(arrays))
    if len(parts) == 1 or shuffle_seed is None:
        data = parts[0]
        for part in parts[1:]:
            data = data.concatenate(part)
        return data
    weights = [float(len(p)) for p in parts]
    return tf.data.Dataset.sample_from_datasets(parts, weights=[w / sum(weights) for w in weights], seed=shuffle_seed, stop_on_empty_dataset=False)


def make_dataset(
    directories: Sequence[Path | str],
    *,
    image_shape: tuple[int, int],
    batch_size: int,
    augment: bool,
    seed: int,
    repeat: bool = False,
    cache: bool = False,
    shuffle_buffer: int = 2048,
    crop_shape: tuple[int, int] | None = None,
    background_swap_probability: float = 0.0,
    empty_field_probability: float = 0.0,
    draw_shares: Sequence[float | None] | None = None,
):
    """Batches of (images float32 0-255, targets float32 with channels NOTIONS + click).

    ``cache`` reads each dataset into memory first (uint8, about 0.33 MB per 256x320 image), so
    training never waits on HDF5 decompression; without it examples are read one at a time.
    ``crop_shape`` trains on random crops at the full pixel scale: the network is fully convolutional, and a crop of a quarter of the frame costs a
    quarter of the time while keeping thin structures as thin as the network will see them.
    ``background_swap_probability`` re-lights that share of training images with another empty field
    (``training_empty_fields``: the training split's real ones when the shared data is present, and
    synthetic ones of other cameras; a dark field, the lamp off, is never swapped in, nor is a frame
    whose own field is that dark re-lit: its field cannot be told from its noise).
    ``empty_field_probability`` replaces that share of training images by an empty field (a pin with
    nothing mounted: every labelled map all zero), so the network learns that a bare field holds no
    foreground, loop or click; the field is dimmed or brightened by up to 20% and gets camera noise.
    ``draw_shares`` sets some datasets' share of the augmented draws (``draw_weights``)."""
    import tensorflow as tf

    for name, probability in (("background_swap_probability", background_swap_probability), ("empty_field_probability", empty_field_probability)):
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"{name} must be within [0, 1], got {probability}")

    if not directories:
        raise ValueError("no dataset directories given")
    datasets = [LabelledDataset(directory) for directory in directories]
    empty = [str(directory) for directory, dataset in zip(directories, datasets) if len(dataset) == 0]
    if empty:
        raise ValueError(f"datasets without examples: {', '.join(empty)}")
    parts = [_read(dataset, cache, seed if augment else None) for dataset in datasets]
    if draw_shares is not None and any(share is not None for share in draw_shares):
        if not (augment and repeat):
            raise ValueError("draw_shares need augmented, repeated training data (set steps_per_epoch)")
        parts = [part.repeat() for part in parts]  # a set drawn more often than its size starts again
    data = _mixed(parts, draw_weights([len(dataset) for dataset in datasets], draw_shares), seed + 1) if augment else _concatenated(parts)
    if augment:
        data = data.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    data = data.map(lambda i, m, c, labelled: _targets(i, m, c, labelled, image_shape), num_parallel_calls=tf.data.AUTOTUNE)
    if repeat:
        data = data.repeat()
    if augment:
        counter = tf.data.Dataset.counter()
        uses_fields = background_swap_probability > 0 or empty_field_probability > 0
        fields = tf.constant(training_empty_fields(image_shape)[0], tf.float32) if uses_fields else None
        foreground = NOTIONS.index("foreground")

        def augment_one(pair, n):
            image, targets = pair
            example_seed = tf.stack([tf.cast(seed, tf.int64), n])
            if fields is not None:
                draw = tf.random.stateless_uniform([4], example_seed + 2)
                field = fields[tf.cast(draw[1] * len(fields), tf.int32) % len(fields)]
                labelled_foreground = tf.reduce_min(targets[..., foreground]) >= 0.0
                if draw[2] < empty_field_probability:
                    image, targets = _empty_field(field, targets, draw[3], example_seed + 3)
                elif draw[0] < background_swap_probability and labelled_foreground and tf.reduce_mean(field) > LIT_FIELD_MEAN:
                    if _own_field_mean(image, targets[..., foreground]) > LIT_FIELD_MEAN:
                        image = swap_background(image, targets[..., foreground], field)
            if crop_shape is not None:
                image, targets = random_crop(image, targets, crop_shape, example_seed + 1)
            image, targets = augment_example(image, targets, example_seed, transpose=crop_shape is None)
            rows, cols = crop_shape or image_shape
            return tf.ensure_shape(image, (rows, cols, 3)), tf.ensure_shape(targets, (rows, cols, len(NOTIONS) + 1))

        data = tf.data.Dataset.zip((data, counter)).map(augment_one, num_parallel_calls=tf.data.AUTOTUNE)
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)
