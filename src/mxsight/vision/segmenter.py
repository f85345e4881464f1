"""The ``Segmenter`` interface shared by the classical baseline and the network."""

from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np

from mxsight.vision.prediction import Prediction, frame_problem, validate_frame


class Segmenter(abc.ABC):
    """Labels every pixel of RGB frames with the notions; outputs are at the input resolution."""

    name: str = "segmenter"
    version: str = "0"

    def predict(self, image: np.ndarray) -> Prediction:
        """Segment one H x W x 3 uint8 frame."""
        return self.predict_batch([image])[0]

    def predict_batch(self, images: Sequence[np.ndarray]) -> list[Prediction]:
        """Segment frames; unusable frames (black, saturated, uniform) give an empty Prediction with
        ``problem`` set, so one bad frame never hides the others."""
        frames = [validate_frame(image) for image in images]
        usable = [(index, frame) for index, frame in enumerate(frames) if frame_problem(frame) is None]
        results: list[Prediction | None] = [None] * len(frames)
        if usable:
            predictions = self._predict_usable([frame for _, frame in usable])
            for (index, _), prediction in zip(usable, predictions, strict=True):
                results[index] = prediction
        for index, frame in enumerate(frames):
            if results[index] is None:
                results[index] = Prediction.empty(frame.shape[:2], problem=frame_problem(frame))
        return results  # type: ignore[return-value]

    def track(self, image: np.ndarray, previous: Sequence[Prediction] = ()) -> Prediction:
        """Segment the next frame of a sweep, given the predictions of the sweep's frames before it
        (oldest first): a segmenter that can follow the sample from frame to frame looks only where
        it will be (and says so in ``labelled_region``); others, and any frame the sample is not found
        where expected, are segmented whole, as by :meth:`predict`."""
        return self.predict(image)

    @abc.abstractmethod
    def _predict_usable(self, images: list[np.ndarray]) -> list[Prediction]:
        """Segment frames that passed the usability checks."""

    def for_background(self, background: np.ndarray | None) -> "Segmenter":
        """This segmenter for another empty field (plans call it after a zoom change). Segmenters that
        do not use the empty field return themselves."""
        return self

    def describe(self) -> dict[str, str]:
        """Name and version, recorded in each run's start document."""
        return {"model_name": self.name, "model_version": self.version}

    @staticmethod
    def classical(background: np.ndarray | None = None, spindle: str = "horizontal") -> "Segmenter":
        """The classical baseline: background model, thresholds and sum curves."""
        from mxsight.vision.classical import ClassicalSegmenter

        return ClassicalSegmenter(background=background, spindle=spindle)

    @staticmethod
    def default(background: np.ndarray | None = None, spindle: str = "horizontal") -> "Segmenter":
        """The segmenter plans use unless told otherwise, built on the default network
        (``default.keras`` in ``mxsight/models`` or the site's models folder, loaded offline) as its
        card's ``default_segmenter`` says: whichever of the network, the network checked frame by
        frame with the classical baseline where a frame fails (:class:`CheckedSegmenter`), or the
        classical baseline scored best on the held-out real frames (docs/model-card.md).

        ``background`` is the empty field at the current zoom (the classical baseline subtracts it,
        the self-check compares foregrounds with it); ``spindle`` is the spindle's orientation.
        """
        from mxsight.vision.model_files import default_segmenter_kind
        from mxsight.vision.network_segmenter import NetworkSegmenter

        kind = default_segmenter_kind()
        if kind == "classical":
            return Segmenter.classical(background=background, spindle=spindle)
        network = NetworkSegmenter.shipped()
        if kind == "network":
            return network
        from mxsight.vision.hybrid import CheckedSegmenter

        classical = Segmenter.classical(background=background, spindle=spindle)
        return CheckedSegmenter(network, classical, background=background, spindle=spindle)
