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

from collections.abc import Callable

import numpy as np
from event_model import DocumentRouter

from mxsight.devices.hdf5_store import read_frame
from mxsight.vision.features import FrameFeatures, frame_features
from mxsight.vision.prediction import Prediction
from mxsight.vision.segmenter import Segmenter
from mxsight.vision.self_check import SelfCheckSettings, check_frame

FrameReader = Callable[[str, str, int], np.ndarray]


class SegmentationCallback(DocumentRouter):
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
        super().__init__()
        self.empty_field = empty_field
        self.self_check = self_check
        self.frames: list[FrameFeatures] = []
        self.predictions: list[Prediction] = []
        self.segmenter = segmenter
        self.image_key = image_key
        self.omega_key = omega_key
        self.stream_name = stream_name
        self.spindle = spindle
        self.frame_reader = frame_reader
        self._descriptors: set[str] = set()
        self._resources: dict[str, dict] = {}
        self._frame_by_seq_num: dict[int, tuple[str, int]] = {}

    @property
    def segmenter(self) -> Segmenter:
        return self._segmenter

    @segmenter.setter
    def segmenter(self, segmenter: Segmenter) -> None:
        """A new segmenter (or the same for another zoom) starts following the sample afresh."""
        self._segmenter = segmenter
        self._followed_from = len(self.predictions)

    def start(self, doc):
        self.frames.clear()
        self.predictions.clear()
        self._followed_from = 0
        self._descriptors.clear()
        self._resources.clear()
        self._frame_by_seq_num.clear()

    def descriptor(self, doc):
        if doc.get("name") == self.stream_name and self.image_key in doc["data_keys"]:
            self._descriptors.add(doc["uid"])

    def stream_resource(self, doc):
        if doc["data_key"] == self.image_key:
            self._resources[doc["uid"]] = doc

    def stream_datum(self, doc):
        if doc["stream_resource"] not in self._resources:
            return
        seq_nums = range(doc["seq_nums"]["start"], doc["seq_nums"]["stop"])
        indices = range(doc["indices"]["start"], doc["indices"]["stop"])
        for seq_num, index in zip(seq_nums, indices, strict=True):
            self._frame_by_seq_num[seq_num] = (doc["stream_resource"], index)

    def event(self, doc):
        if doc["descriptor"] not in self._descriptors:
            return
        try:
            resource_uid, index = self._frame_by_seq_num.pop(doc["seq_num"])
        except KeyError:
            raise RuntimeError(
                f"event {doc['seq_num']} of stream {self.stream_name!r} has no stream datum for {self.image_key!r}"
            ) from None
        resource = self._resources[resource_uid]
        frame = self.frame_reader(resource["uri"], resource["parameters"]["dataset"], index)
        prediction = self.segmenter.track(frame, self.predictions[max(self._followed_from, len(self.predictions) - 2) :])
        if self.self_check is not None and "unsure_reason" not in prediction.extras:  # not checked by the segmenter
            prediction.extras["unsure_reason"] = check_frame(prediction, frame, self.empty_field, spindle=self.spindle, settings=self.self_check)
        omega_deg = float(doc["data"][self.omega_key])
        self.predictions.append(prediction)
        self.frames.append(frame_features(prediction, omega_deg, self.spindle))
