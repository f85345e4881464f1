"""Test helper: a segmenter that reads the simulator's exact masks.

Plan and geometry tests use the exact masks so that what they measure is the plan and the geometry,
not the network (which has its own tests and benchmarks).
"""

from __future__ import annotations

import numpy as np

from mxsight.vision.prediction import Prediction
from mxsight.vision.segmenter import Segmenter


class TruthSegmenter(Segmenter):
    """Returns the masks and click of the frame the simulated camera rendered last."""

    name = "truth"
    version = "sim"

    def __init__(self, camera):
        self.camera = camera

    def _predict_usable(self, images):
        render = self.camera.last_render
        if render is None:
            return [Prediction.empty(image.shape[:2]) for image in images]
        masks = render.masks
        probabilities = {notion: mask.astype(np.float32) for notion, mask in masks.items()}
        return [Prediction(masks=masks, probabilities=probabilities, click=render.click_px, present=bool(masks["loop"].any()))]

