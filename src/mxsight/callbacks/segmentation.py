"""``SegmentationCallback``: segments each camera frame of a run and accumulates per-frame features.

Like bluesky's ``PeakStats``, it is subscribed for the duration of a plan, which reads the features it
accumulates. Frames are read from the files that stream resource documents name, so the callback works
the same on documents replayed from Tiled or streamed from another process. Each frame is segmented
knowing the predictions of the frames before it since the segmenter was last set (plans set it again
after each zoom change), so a network can follow the loop instead of searching the whole frame
(:meth:`Segmenter.track`). Each prediction is then self-checked (:mod:`mxsight.vision.self_check`)
against the empty field the plan gives (``empty_field``, the camera's for the zoom) and the sample's
structure; a frame that fails carries the reason as ``Prediction.unsure_reason``.
"""

from __future__ import annotations

import numpy as np

from mxsight.callbacks.frames import FrameCallback, FrameReader
from mxsight.devices.hdf5_store import read_frame
from mxsight.vision.features import FrameFeatures, frame_features
from mxsight.vision.prediction import Prediction
from mxsight.vision.segmenter import Segmenter
from mxsight.vision.self_check import SelfCheckSettings, check_frame


class SegmentationCallback(FrameCallback):
    """Segments frames of ``image_key`` in stream ``stream_name``, pairing each with ``omega_key``."""

    def __init__(
        self,
        segmenter: Segmenter,
        *,
        image_key: str,
        omega_key: str,
        stream_name: str = "primary",
        spindle: str = "horizontal",
        frame_reader: FrameReader = read_frame,
        empty_field: np.ndarray | None = None,
        self_check: SelfCheckSettings | None = SelfCheckSettings(),
    ):
        super().__init__(image_key=image_key, stream_name=stream_name, frame_reader=frame_reader)
        self.empty_field = empty_field
        self.self_check = self_check
        self.frames: list[FrameFeatures] = []
        self.predictions: list[Prediction] = []
        self.segmenter = segmenter
        self.omega_key = omega_key
        self.spindle = spindle
        self._deferred: list[tuple[np.ndarray, dict]] | None = None

    @property
    def segmenter(self) -> Segmenter:
        return self._segmenter

    @segmenter.setter
    def segmenter(self, segmenter: Segmenter) -> None:
        """A new segmenter (or the same for another zoom) starts following the sample afresh."""
        self._segmenter = segmenter
        self._followed_from = len(self.predictions)

    def start(self, doc):
        super().start(doc)
        self.frames.clear()
        self.predictions.clear()
        self._followed_from = 0
        self._deferred = None

    def defer(self) -> None:
        """Queue frames from now on instead of segmenting them (a continuous sweep takes its frames at
        the camera's pace while omega turns, then segments them with :meth:`segment_deferred`)."""
        self._deferred = []

    def segment_deferred(self):
        """Segment the queued frames in order, yielding each one's features; stops queueing. Frames
        left when the caller stops are dropped unsegmented."""
        queued, self._deferred = self._deferred or [], None
        for image, event in queued:
            self.frame(image, event)
            yield self.frames[-1]

    def frame(self, image: np.ndarray, event: dict) -> None:
        if self._deferred is not None:
            self._deferred.append((image, event))
            return
        prediction = self.segmenter.track(image, self.predictions[max(self._followed_from, len(self.predictions) - 2) :])
        if self.self_check is not None and "unsure_reason" not in prediction.extras:  # not checked by the segmenter
            prediction.extras["unsure_reason"] = check_frame(prediction, image, self.empty_field, spindle=self.spindle, settings=self.self_check)
        omega_deg = float(event["data"][self.omega_key])
        self.predictions.append(prediction)
        self.frames.append(frame_features(prediction, omega_deg, self.spindle))
