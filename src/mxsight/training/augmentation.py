"""Augmentations of training examples (TensorFlow ops, stateless: the same seed gives the same
views): random windows at full pixel scale, flips, the other spindle orientation, affine warps,
channel swaps and brightness / contrast / gamma. Geometric changes move the target maps with the image."""

from __future__ import annotations


def random_crop(image, targets, crop_shape: tuple[int, int], seed):
    """The same random window of the image and its targets; half of the windows are taken with rows
    and columns swapped and transposed back to ``crop_shape`` (the other spindle orientation, exact)."""
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(seed, 2)
    stacked = tf.concat([image, targets], axis=-1)
    channels = tf.shape(stacked)[-1]
    if tf.random.stateless_uniform([], seeds[0]) < 0.5:
        crop = tf.transpose(tf.image.stateless_random_crop(stacked, (crop_shape[1], crop_shape[0], channels), seeds[1]), (1, 0, 2))
    else:
        crop = tf.image.stateless_random_crop(stacked, (crop_shape[0], crop_shape[1], channels), seeds[1])
    return crop[..., :3], crop[..., 3:]


def _random_affine(seed, shape, max_rotation_deg: float = 20.0, zoom_range=(0.75, 1.3), max_shift: float = 0.15, max_shear_deg: float = 8.0):
    """A random rotation / zoom / shear / shift about the image centre, as the 8 projective-transform
    parameters mapping output pixels to input pixels."""
    import math

    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(seed, 5)
    rows, cols = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    angle = tf.random.stateless_uniform([], seeds[0], -1.0, 1.0) * max_rotation_deg * math.pi / 180
    shear = tf.random.stateless_uniform([], seeds[1], -1.0, 1.0) * max_shear_deg * math.pi / 180
    zoom = tf.exp(tf.random.stateless_uniform([], seeds[2], math.log(zoom_range[0]), math.log(zoom_range[1])))
    shift = tf.random.stateless_uniform([2], seeds[3], -max_shift, max_shift) * tf.stack([cols, rows])
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    a0, a1 = cos, -sin + tf.tan(shear) / zoom
    b0, b1 = sin, cos
    centre_x, centre_y = cols / 2, rows / 2
    a2 = centre_x - a0 * centre_x - a1 * centre_y - shift[0]
    b2 = centre_y - b0 * centre_x - b1 * centre_y - shift[1]
    return tf.stack([a0, a1, a2, b0, b1, b2, 0.0, 0.0])


def _warp(images, transform, interpolation: str, fill_mode: str):
    """Resample by ``transform``; ``fill_mode`` NEAREST extends border pixels (the pin leaving the
    frame stays the pin), CONSTANT fills with zero (the click map)."""
    import tensorflow as tf

    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images[None], transforms=transform[None], output_shape=tf.shape(images)[:2],
        interpolation=interpolation, fill_mode=fill_mode, fill_value=0.0,
    )[0]


def augment_example(image, targets, seed, transpose: bool = True):
    """Flips, transposes (the other spindle orientation), affine shift / shear / zoom / rotation,
    channel swaps, brightness / contrast / gamma. Geometric changes apply to the targets too: masks by
    nearest neighbour, the click map bilinearly; border pixels extend into new space."""
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(seed, 9)
    if tf.random.stateless_uniform([], seeds[0]) < 0.5:
        image, targets = tf.image.flip_left_right(image), tf.image.flip_left_right(targets)
    if tf.random.stateless_uniform([], seeds[1]) < 0.5:
        image, targets = tf.image.flip_up_down(image), tf.image.flip_up_down(targets)
    if transpose and tf.random.stateless_uniform([], seeds[6]) < 0.5:
        shape = tf.shape(image)[:2]
        image = tf.image.resize(tf.transpose(image, (1, 0, 2)), shape, method="bilinear")
        targets = tf.transpose(targets, (1, 0, 2))
        targets = tf.concat(
            [tf.image.resize(targets[..., :-1], shape, method="nearest"), tf.image.resize(targets[..., -1:], shape, method="bilinear")],
            axis=-1,
        )
    if tf.random.stateless_uniform([], seeds[7]) < 0.6:
        transform = _random_affine(seeds[8], tf.shape(image)[:2])
        image = _warp(image, transform, "BILINEAR", "NEAREST")
        click = _warp(targets[..., -1:], transform, "BILINEAR", "CONSTANT")
        click = tf.where(tf.reduce_max(targets[..., -1:]) < 0.0, targets[..., -1:], click)  # an unlabelled click map stays unlabelled
        targets = tf.concat([_warp(targets[..., :-1], transform, "NEAREST", "NEAREST"), click], axis=-1)
    if tf.random.stateless_uniform([], seeds[2]) < 0.3:
        image = tf.gather(image, tf.random.experimental.stateless_shuffle(tf.range(3), seeds[3]), axis=-1)
    image = image / 255.0
    image = tf.image.stateless_random_brightness(image, 0.15, seeds[4])
    image = tf.image.stateless_random_contrast(image, 0.7, 1.3, seeds[5])
    gamma = tf.random.stateless_uniform([], seeds[0], 0.7, 1.4)
    image = tf.clip_by_value(image, 0.0, 1.0) ** gamma
    return image * 255.0, targets
