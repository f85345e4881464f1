"""Re-initialise chosen output maps of a trained network before fine-tuning it further.

A map the network has learnt to switch off everywhere (the stage-3 default predicted ice with a logit
near -11 on ice pixels, taking ice for crystal) barely recovers: RMSprop moves each weight by about the
learning rate per step whatever the loss weight, so undoing that takes tens of thousands of steps.
Resetting the map's rows of the output layers to a small prior restarts its learning from the shared
features while every other map's weights stay as trained. ``build_model``'s head: a coarse 1x1 output
convolution, and (with refinement) a full-resolution branch that joins the upsampled coarse logits
and adds a residual. The reset map's coarse logit is cut from the join, and its mean over sample
images moved into the join's bias, so the other maps' refinement sees it as before on average.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mxsight.vision.network import OUTPUT_CHANNELS

PRIOR_PROBABILITY = 0.01


def _output_convolutions(model) -> list:
    return [layer for layer in model.layers if type(layer).__name__ == "Conv2D" and layer.filters == len(OUTPUT_CHANNELS)]


def reset_output_channels(model, names: Sequence[str], images: np.ndarray, seed: int = 0) -> None:
    """Reset ``names`` (of ``OUTPUT_CHANNELS``) in place: coarse output weights to small random values
    and bias to the logit of ``PRIOR_PROBABILITY``, the refinement's residual for them to 0, and their
    weights in the join to 0 with their mean contribution over ``images`` (a batch like the training
    images, 0-255) added to the join's bias."""
    unknown = sorted(set(names) - set(OUTPUT_CHANNELS))
    if unknown:
        raise ValueError(f"cannot reset unknown maps {unknown}; known: {', '.join(OUTPUT_CHANNELS)}")
    heads = _output_convolutions(model)
    if not heads or len(heads) > 2:
        raise ValueError(f"expected mxsight's network head (1 or 2 output convolutions of {len(OUTPUT_CHANNELS)} maps), found {len(heads)}")
    channels = [OUTPUT_CHANNELS.index(name) for name in names]
    rng = np.random.default_rng(seed)
    coarse = heads[0]
    import keras

    mean_logits = np.asarray(keras.Model(model.input, coarse.output)(np.asarray(images, np.float32), training=False)).mean(axis=(0, 1, 2))
    kernel, bias = coarse.get_weights()
    kernel[..., channels] = rng.normal(0.0, 0.01, size=kernel[..., channels].shape)
    bias[channels] = np.log(PRIOR_PROBABILITY / (1 - PRIOR_PROBABILITY))
    coarse.set_weights([kernel, bias])
    if len(heads) == 2:
        residual = heads[1]
        kernel, bias = residual.get_weights()
        kernel[..., channels] = 0.0
        bias[channels] = 0.0
        residual.set_weights([kernel, bias])
        join = residual.input._keras_history[0]
        kernel, bias = join.get_weights()
        bias += np.einsum("c,cj->j", mean_logits[channels], kernel[0, 0, channels, :])  # the join's first inputs are the upsampled coarse logits
        kernel[:, :, channels, :] = 0.0
        join.set_weights([kernel, bias])
