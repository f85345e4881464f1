"""Training loss: binary focal cross-entropy plus a soft Dice term per image and channel.

Focal loss alone is dominated by the large notions (foreground, pin); the notions the alignment needs
most (the stem, the loop's rim, small crystals) cover a few hundred pixels of a frame. The soft Dice
term scores each map of each image on its own, so a 2-pixel-wide stem weighs as much as the pin. An
empty truth map gives a Dice term that falls to zero as the prediction empties (``smooth_px``
keeps it finite). Maps an example does not label (target ``UNLABELLED``, negative) are left out of
both terms: an operator's click teaches the click map without claiming anything about the masks.
``channel_weights`` (one per map, default all 1) weigh the maps in both terms: a weighted mean over
the labelled maps, so all-equal weights give the unweighted loss. They let training push notions a
model has not learnt (ice, which the stage-3 network mistook for crystal) without a new loss.
``edge_weights`` (one per map, default all 0) add weight to the focal term within ``edge_px`` pixels
of a map's true edge (its morphological gradient: dilation minus erosion by a square). A notion's
IoU and, for the loop, the centre the alignment fits are decided at its edge, where a handful of
pixels weigh little in a mean over the whole frame: the stage-5 network drew the loop along the
outer edge of ice crusts frozen on the rim (docs/evaluation/centring-network.md).
``ice_weights`` (one per map, default all 0) add weight to the focal term where the ice map is true
(``ice_channel``): the crust outside the wire, which the networks up to stage 8 drew as loop (58% of
its pixels), and the wire under it. Edge weights cannot reach them: a crust is 2-15 camera pixels
thick, its outer edge beyond any edge band of the loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops


def check_edge_px(edge_px: object) -> None:
    """Refuse an ``edge_px`` that is not a whole number of pixels >= 1 (the width of the edge band)."""
    if isinstance(edge_px, bool) or not isinstance(edge_px, int) or edge_px < 1:
        raise ValueError(f"edge_px must be a whole number of pixels >= 1, got {edge_px!r}")


@keras.saving.register_keras_serializable(package="mxsight")
class FocalDiceLoss(keras.losses.Loss):
    """``weighted mean of focal + dice_weight * weighted mean over (image, channel) of (1 - soft Dice)``."""

    def __init__(self, gamma: float = 2.0, dice_weight: float = 0.5, smooth_px: float = 1.0, channel_weights: Sequence[float] | None = None, edge_weights: Sequence[float] | None = None, edge_px: int = 2, ice_weights: Sequence[float] | None = None, ice_channel: int | None = None, name: str = "focal_dice", **kwargs):
        super().__init__(name=name, **kwargs)
        if ice_weights is not None and any(w < 0 for w in ice_weights):
            raise ValueError(f"ice_weights must be >= 0, got {list(ice_weights)}")
        if ice_weights is not None and (isinstance(ice_channel, bool) or not isinstance(ice_channel, int) or not 0 <= ice_channel < len(ice_weights)):
            raise ValueError(f"ice_weights need ice_channel, the index of the ice map among the {len(ice_weights)} maps, got {ice_channel!r}")
        self.ice_weights = None if ice_weights is None else [float(w) for w in ice_weights]
        self.ice_channel = ice_channel
        if channel_weights is not None and any(w < 0 for w in channel_weights):
            raise ValueError(f"channel_weights must be >= 0, got {list(channel_weights)}")
        if edge_weights is not None and any(w < 0 for w in edge_weights):
            raise ValueError(f"edge_weights must be >= 0, got {list(edge_weights)}")
        check_edge_px(edge_px)
        self.edge_weights = None if edge_weights is None else [float(w) for w in edge_weights]
        self.edge_px = int(edge_px)
        self.gamma = gamma
        self.dice_weight = dice_weight
        self.smooth_px = smooth_px
        self.channel_weights = None if channel_weights is None else [float(w) for w in channel_weights]
        self._focal = keras.losses.BinaryFocalCrossentropy(gamma=gamma, reduction=None)

    def _weights(self, channels: int, dtype):
        if self.channel_weights is None:
            return ops.ones((channels,), dtype=dtype)
        if len(self.channel_weights) != channels:
            raise ValueError(f"channel_weights has {len(self.channel_weights)} weights for {channels} maps")
        return ops.convert_to_tensor(self.channel_weights, dtype=dtype)

    def _edge_factor(self, y_true):
        """Per pixel and map ``1 + edge weight`` within ``edge_px`` of the map's true edge, else 1."""
        channels = y_true.shape[-1]
        if self.edge_weights is None:
            return 1.0
        if len(self.edge_weights) != channels:
            raise ValueError(f"edge_weights has {len(self.edge_weights)} weights for {channels} maps")
        window = 2 * self.edge_px + 1
        dilated = ops.max_pool(y_true, pool_size=window, strides=1, padding="same")
        eroded = -ops.max_pool(-y_true, pool_size=window, strides=1, padding="same")
        return 1.0 + (dilated - eroded) * ops.convert_to_tensor(self.edge_weights, dtype=y_true.dtype)

    def _ice_factor(self, y_true):
        """Per pixel and map ``1 + ice weight`` where the ice map is true, else 1."""
        if self.ice_weights is None:
            return 1.0
        if len(self.ice_weights) != y_true.shape[-1]:
            raise ValueError(f"ice_weights has {len(self.ice_weights)} weights for {y_true.shape[-1]} maps")
        on_ice = y_true[..., self.ice_channel : self.ice_channel + 1]
        return 1.0 + on_ice * ops.convert_to_tensor(self.ice_weights, dtype=y_true.dtype)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        weights = self._weights(y_pred.shape[-1], y_pred.dtype)
        labelled = ops.cast(y_true >= 0.0, y_pred.dtype)
        y_true = y_true * labelled
        focal_per_pixel = ops.stack([self._focal(y_true[..., k : k + 1], y_pred[..., k : k + 1]) for k in range(y_pred.shape[-1])], axis=-1)
        weighted = labelled * weights * self._edge_factor(y_true) * self._ice_factor(y_true)
        focal = ops.sum(focal_per_pixel * weighted, axis=(1, 2, 3)) / ops.maximum(ops.sum(weighted, axis=(1, 2, 3)), 1e-6)
        labelled_maps = ops.max(labelled, axis=(1, 2)) * weights
        overlap = ops.sum(y_true * y_pred * labelled, axis=(1, 2))
        total = ops.sum(y_true, axis=(1, 2)) + ops.sum(y_pred * labelled, axis=(1, 2))
        dice = (2.0 * overlap + self.smooth_px) / (total + self.smooth_px)
        dice_term = ops.sum((1.0 - dice) * labelled_maps, axis=-1) / ops.maximum(ops.sum(labelled_maps, axis=-1), 1e-6)
        return focal + self.dice_weight * dice_term

    def get_config(self) -> dict:
        return {**super().get_config(), "gamma": self.gamma, "dice_weight": self.dice_weight, "smooth_px": self.smooth_px, "channel_weights": self.channel_weights, "edge_weights": self.edge_weights, "edge_px": self.edge_px, "ice_weights": self.ice_weights, "ice_channel": self.ice_channel}
