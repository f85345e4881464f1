"""``NetworkSegmenter``: the Keras network behind the :class:`Segmenter` interface."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage.transform import resize

from mxsight.notions import NOTIONS
from mxsight.vision.network import OUTPUT_CHANNELS
from mxsight.vision.prediction import Prediction
from mxsight.vision.segmenter import Segmenter

CLICK_CHANNEL = OUTPUT_CHANNELS.index("click")


class NetworkSegmenter(Segmenter):
    """Runs a saved ``.keras`` model: frames are resized so their longer side is ``working_size_px``,
    padded to the network's stride, segmented in batches, and the maps brought back to each frame's
    own resolution. A notion is present where its probability exceeds ``threshold``; the click is the
    click map's maximum when it exceeds ``click_threshold``."""

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

    def _working_shape(self, shape: tuple[int, int]) -> tuple[int, int]:
        scale = self.working_size_px / max(shape)
        return tuple(max(self.stride, int(round(n * scale / self.stride)) * self.stride) for n in shape)

    def _predict_usable(self, images: list[np.ndarray]) -> list[Prediction]:
        predictions = []
        for image in images:
            working = self._working_shape(image.shape[:2])
            small = resize(image, working, order=1, preserve_range=True, anti_aliasing=True).astype(np.float32)
            maps = np.asarray(self.model(small[None], training=False))[0]
            predictions.append(self._to_prediction(maps, image.shape[:2]))
        return predictions

    def _to_prediction(self, maps: np.ndarray, shape: tuple[int, int]) -> Prediction:
        full = resize(maps, (*shape, maps.shape[-1]), order=1, preserve_range=True).astype(np.float32)
        probabilities = {notion: full[..., i] for i, notion in enumerate(NOTIONS)}
        masks = {notion: p > self.threshold for notion, p in probabilities.items()}
        click_map = full[..., CLICK_CHANNEL]
        peak = np.unravel_index(int(np.argmax(click_map)), click_map.shape)
        click = (float(peak[0]), float(peak[1])) if click_map[peak] > self.click_threshold else None
        present = bool(masks["loop"].any() or masks["loop_inside"].any())
        return Prediction(masks=masks, probabilities=probabilities, click=click, present=present)
