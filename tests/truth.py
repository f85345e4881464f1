"""Test helper: a segmenter that reads the simulator's exact masks.

Plan and geometry tests use the exact masks so that what they measure is the plan and the geometry,
not the network (which has its own tests and benchmarks).
"""

from __future__ import annotations

import hashlib

import numpy as np

from mxsight.vision.prediction import Prediction
from mxsight.vision.segmenter import Segmenter


class TruthSegmenter(Segmenter):
    """Returns the masks and click of the frame the simulated camera rendered: found by the image's
    content among the renders not yet segmented (a continuous sweep segments its frames after the turn,
    when the camera has rendered others since), else the latest render."""

    name = "truth"
    version = "sim"

    def __init__(self, camera):
        self.camera = camera
        self._renders = _pending_renders(camera)

    def _predict_usable(self, images):
        return [self._prediction(self._renders.pop(_fingerprint(image), None) or self.camera.last_render, image) for image in images]

    @staticmethod
    def _prediction(render, image):
        if render is None:
            return Prediction.empty(image.shape[:2])
        masks = render.masks
        probabilities = {notion: mask.astype(np.float32) for notion, mask in masks.items()}
        return Prediction(masks=masks, probabilities=probabilities, click=render.click_px, present=bool(masks["loop"].any()))


def _fingerprint(image) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()


def _pending_renders(camera) -> dict:
    """The camera's renders by image fingerprint, kept from each acquisition until segmented (at most
    ``PENDING`` of them); installed once per camera."""
    if not hasattr(camera, "_truth_renders"):
        renders: dict = {}
        acquire = camera.acquire_frame

        def acquire_and_keep():
            image = acquire()
            if camera.last_render is not None:
                renders[_fingerprint(image)] = camera.last_render
                while len(renders) > PENDING:
                    renders.pop(next(iter(renders)))
            return image

        camera.acquire_frame = acquire_and_keep
        camera._truth_renders = renders
    return camera._truth_renders


PENDING = 40


class WindowedTruthSegmenter(TruthSegmenter):
    """The exact masks, but after the first frame a sweep's frames are labelled only in a window
    around the loop (``labelled_region``), as the network labels the frames it tracks."""

    name = "truth-windowed"
    margin_px = 40

    def track(self, image, previous=()):
        whole = self.predict(image)
        rows, cols = np.nonzero(whole.masks["loop"])
        if not previous or not rows.size:
            return whole
        top, left = max(int(rows.min()) - self.margin_px, 0), max(int(cols.min()) - self.margin_px, 0)
        bottom, right = min(int(rows.max()) + self.margin_px, whole.shape[0]), min(int(cols.max()) + self.margin_px, whole.shape[1])
        inside = np.zeros(whole.shape, dtype=bool)
        inside[top:bottom, left:right] = True
        masks = {notion: mask & inside for notion, mask in whole.masks.items()}
        probabilities = {notion: mask.astype(np.float32) for notion, mask in masks.items()}
        return Prediction(masks=masks, probabilities=probabilities, click=whole.click, present=whole.present, labelled_region=(top, left, bottom - top, right - left))
