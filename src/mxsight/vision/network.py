"""The segmentation network: a light, fully convolutional U-Net with depthwise-separable convolutions.

Built for CPUs first: a strided stem halves the resolution at once, every later convolution is
separable and normalisation is GroupNormalization (independent of batch size). Thin structures (the
stem, the loop's rim, small crystals) are one to three pixels wide at the working size, so the head
refines at full resolution: the decoder's logits, predicted at half resolution and upsampled
bilinearly, are corrected by a residual from a thin full-resolution branch (``full_resolution_width``
channels, no normalisation, 1x1 convolutions: cheap on a CPU). Set it to 0 for no refinement. Outputs one sigmoid map per notion plus the click map, in the
order of :data:`OUTPUT_CHANNELS`. Input height and width must be multiples of :func:`stride` (the
``NetworkSegmenter`` pads to it); any size and either orientation work.
"""

from __future__ import annotations

from dataclasses import dataclass

from mxsight.notions import NOTIONS

OUTPUT_CHANNELS: tuple[str, ...] = (*NOTIONS, "click")


@dataclass(frozen=True)
class NetworkConfig:
    """Widths of the stem and each encoder level, and the regularisation of the design."""

    widths: tuple[int, ...] = (16, 32, 64, 96, 160)
    full_resolution_width: int = 8
    dropout: float = 0.2
    weight_decay: float = 1e-4
    groups: int = 8

    def __post_init__(self) -> None:
        if len(self.widths) < 2:
            raise ValueError("widths needs a stem width and at least one encoder level")
        if self.full_resolution_width < 0:
            raise ValueError(f"full_resolution_width must be >= 0, got {self.full_resolution_width}")
        bad = [w for w in self.widths if w % min(self.groups, w) != 0]
        if bad:
            raise ValueError(f"widths {bad} are not divisible by groups={self.groups}")


def stride(config: NetworkConfig) -> int:
    """Input sizes must be multiples of this (2 for the stem, 2 per encoder level)."""
    return 2 ** len(config.widths)


def build_model(config: NetworkConfig = NetworkConfig(), name: str = "mxsight_unet"):
    """A Keras model mapping (batch, rows, cols, 3) uint8-range images to (batch, rows, cols, 9) maps."""
    import keras
    from keras import layers

    regulariser = keras.regularizers.L2(config.weight_decay)

    def norm_relu(x, width):
        x = layers.GroupNormalization(groups=min(config.groups, width))(x)
        return layers.Activation("relu")(x)

    def separable(x, width, strides=1):
        x = layers.SeparableConv2D(
            width, 3, strides=strides, padding="same", use_bias=False,
            depthwise_regularizer=regulariser, pointwise_regularizer=regulariser,
        )(x)
        return norm_relu(x, width)

    inputs = keras.Input(shape=(None, None, 3), name="image")
    scaled = layers.Rescaling(1.0 / 127.5, offset=-1.0)(inputs)
    x = layers.Conv2D(config.widths[0], 3, strides=2, padding="same", use_bias=False, kernel_regularizer=regulariser)(scaled)
    x = norm_relu(x, config.widths[0])
    skips = [x]
    for width in config.widths[1:]:
        x = separable(x, width, strides=2)
        x = separable(x, width)
        skips.append(x)
    x = layers.Dropout(config.dropout)(x)
    for width, skip in zip(reversed(config.widths[:-1]), reversed(skips[:-1])):
        x = layers.UpSampling2D(2, interpolation="bilinear")(x)
        x = layers.Concatenate()([x, skip])
        x = separable(x, width)
    x = layers.Conv2D(len(OUTPUT_CHANNELS), 1, kernel_regularizer=regulariser)(x)
    x = layers.UpSampling2D(2, interpolation="bilinear")(x)
    if config.full_resolution_width:
        full = layers.Conv2D(config.full_resolution_width, 3, padding="same", activation="relu", kernel_regularizer=regulariser)(scaled)
        joined = layers.Concatenate()([x, full])
        joined = layers.Conv2D(config.full_resolution_width, 1, activation="relu", kernel_regularizer=regulariser)(joined)
        x = layers.Add()([x, layers.Conv2D(len(OUTPUT_CHANNELS), 1, kernel_regularizer=regulariser)(joined)])
    outputs = layers.Activation("sigmoid", dtype="float32", name="maps")(x)
    return keras.Model(inputs, outputs, name=name)
