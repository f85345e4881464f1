"""A segmenter that checks its own frames and hands the ones it fails to another.

``CheckedSegmenter(primary, fallback)`` segments each frame with ``primary`` (the network), runs the
self-check (:mod:`mxsight.vision.self_check`) on it and, where it fails, segments the frame with
``fallback`` (the classical segmenter against the empty field). The fallback's prediction is taken
when it passes the check; when both fail, the primary's prediction is kept with the reason, so plans
never fit it. On frames the network labels well nothing changes; on frames it gets grossly wrong (a
liquid-filled loop labelled pin) the baseline that finds such loops takes over.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mxsight.vision.prediction import Prediction
from mxsight.vision.segmenter import Segmenter
from mxsight.vision.self_check import SelfCheckSettings, Spindle, check_frame


class CheckedSegmenter(Segmenter):
    """``primary`` checked frame by frame, ``fallback`` where a frame fails (see the module)."""

    def __init__(
        self,
        primary: Segmenter,
        fallback: Segmenter,
        *,
        background: np.ndarray | None = None,
        spindle: Spindle = "horizontal",
        settings: SelfCheckSettings = SelfCheckSettings(),
    ):
        if spindle not in ("horizontal", "vertical"):
            raise ValueError(f"spindle must be 'horizontal' or 'vertical', got {spindle!r}")
        self.primary, self.fallback = primary, fallback
        self.background = background
        self.spindle = spindle
        self.settings = settings
        self.name = f"{primary.name}, checked, else {fallback.name}"
        self.version = primary.version

    def _predict_usable(self, images: list[np.ndarray]) -> list[Prediction]:
        return [self._checked(image, prediction) for image, prediction in zip(images, self.primary.predict_batch(images), strict=True)]

    def track(self, image: np.ndarray, previous: Sequence[Prediction] = ()) -> Prediction:
        prediction = self.primary.track(image, previous)
        return prediction if prediction.problem else self._checked(image, prediction)

    def _checked(self, image: np.ndarray, prediction: Prediction) -> Prediction:
        reason = check_frame(prediction, image, self.background, spindle=self.spindle, settings=self.settings)
        if not reason:
            prediction.extras["unsure_reason"] = ""
            return prediction
        replacement = self.fallback.predict(image)
        if not replacement.problem and not check_frame(replacement, image, self.background, spindle=self.spindle, settings=self.settings):
            replacement.extras.update(unsure_reason="", fallback_reason=f"{self.primary.name}: {reason}")
            return replacement
        prediction.extras["unsure_reason"] = reason
        return prediction

    def for_background(self, background: np.ndarray | None) -> "CheckedSegmenter":
        return CheckedSegmenter(
            self.primary.for_background(background),
            self.fallback.for_background(background),
            background=background,
            spindle=self.spindle,
            settings=self.settings,
        )

    def describe(self) -> dict[str, str]:
        return {**self.primary.describe(), "segmenter": self.name, "fallback_segmenter": self.fallback.name}
