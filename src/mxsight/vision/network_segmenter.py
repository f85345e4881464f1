"""``NetworkSegmenter``: the Keras network behind the :class:`Segmenter` interface."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
from scipy import ndimage

from mxsight.notions import NOTIONS
from mxsight.vision.network import OUTPUT_CHANNELS
from mxsight.vision.prediction import Prediction
from mxsight.vision.segmenter import Segmenter

CLICK_CHANNEL = OUTPUT_CHANNELS.index("click")
SHIPPED_MODEL = "default.keras"


class NetworkSegmenter(Segmenter):
    """Runs a saved ``.keras`` model: frames are resized so their longer side is ``working_size_px``,
    padded to the network's stride, segmented in batches, and the maps brought back to each frame's
    own resolution. A notion is present where its probability exceeds ``threshold``; the click is the
    centre of the click map's peak when the peak exceeds ``click_threshold``."""

    name = "network"

    def __init__(self, model, *, stride: int, working_size_px: int = 320, threshold: float = 0.5, click_threshold: float = 0.2, version: str = "0"):
        self.model = model
        self.stride = stride
        self.working_size_px = working_size_px
        self.threshold = threshold
        self.click_threshold = click_threshold
        self.version = version

    @classmethod
    def load(cls, path: Path | str, **kwargs) -> "NetworkSegmenter":
        import keras

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no model file at {path}")
        model = keras.saving.load_model(path, compile=False)
        depth = sum(1 for layer in model.layers if type(layer).__name__ == "UpSampling2D")
        return cls(model, stride=2**depth, version=path.stem, **kwargs)

    @classmethod
    def shipped(cls, name: str = SHIPPED_MODEL) -> "NetworkSegmenter":
        """The model shipped with mxsight (``mxsight/models/<name>``) with the inference settings
        recorded beside it (``<stem>.json``: version, working size, thresholds)."""
        folder = resources.files("mxsight") / "models"
        path = Path(str(folder / name))
        if not path.exists():
            raise FileNotFoundError(f"mxsight's shipped model {path} is missing; reinstall mxsight or pass a segmenter explicitly")
        card_path = path.with_suffix(".json")
        card = json.loads(card_path.read_text()) if card_path.exists() else {}
        settings = {key: card[key] for key in ("working_size_px", "threshold", "click_threshold") if key in card}
        segmenter = cls.load(path, **settings)
        segmenter.version = str(card.get("version", segmenter.version))
        return segmenter

    def _compiled(self, images):
        """The model as one TensorFlow graph (traced once per input shape): several times faster
        than running it eagerly, layer by layer."""
        import tensorflow as tf

        if getattr(self, "_graph", None) is None:
            self._graph = tf.function(lambda x: self.model(x, training=False))
        return self._graph(images)

    def _working_shape(self, shape: tuple[int, int]) -> tuple[int, int]:
        scale = self.working_size_px / max(shape)
        return tuple(max(self.stride, int(round(n * scale / self.stride)) * self.stride) for n in shape)

    def _predict_usable(self, images: list[np.ndarray]) -> list[Prediction]:
        """Frames of the same size go through the network as one batch."""
        import tensorflow as tf

        groups: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(images):
            groups.setdefault(image.shape[:2], []).append(index)
        predictions: list[Prediction | None] = [None] * len(images)
        for shape, indices in groups.items():
            working = self._working_shape(shape)
            batch = np.stack([images[i] for i in indices]).astype(np.float32)
            small = tf.image.resize(batch, working, method="bilinear", antialias=True)
            maps = np.asarray(self._compiled(small))
            for index, frame_maps in zip(indices, maps):
                predictions[index] = self._to_prediction(frame_maps, shape)
        return predictions  # type: ignore[return-value]

    def _to_prediction(self, maps: np.ndarray, shape: tuple[int, int]) -> Prediction:
        import tensorflow as tf

        full = np.asarray(tf.image.resize(maps, shape, method="bilinear"), dtype=np.float32)
        probabilities = {notion: full[..., i] for i, notion in enumerate(NOTIONS)}
        masks = {notion: p > self.threshold for notion, p in probabilities.items()}
        click = _click_point(maps[..., CLICK_CHANNEL], shape, self.click_threshold)
        present = bool(masks["loop"].any() or masks["loop_inside"].any())
        return Prediction(masks=masks, probabilities=probabilities, click=click, present=present)


def _click_point(click_map: np.ndarray, shape: tuple[int, int], threshold: float) -> tuple[float, float] | None:
    """The click: the centre of the click map's peak, weighted by the map minus half the peak over
    the connected part above half the peak (unbiased for a symmetric peak), found at the working
    resolution and scaled to the frame's ``shape``, so it is not limited to the working grid.
    None when the peak is below ``threshold``."""
    peak = np.unravel_index(int(np.argmax(click_map)), click_map.shape)
    if click_map[peak] <= threshold:
        return None
    labels, _ = ndimage.label(click_map >= 0.5 * click_map[peak])
    blob = labels == labels[peak]
    row, col = ndimage.center_of_mass(np.where(blob, click_map - 0.5 * click_map[peak], 0.0))
    scale_rows, scale_cols = shape[0] / click_map.shape[0], shape[1] / click_map.shape[1]
    return ((row + 0.5) * scale_rows - 0.5, (col + 0.5) * scale_cols - 0.5)
