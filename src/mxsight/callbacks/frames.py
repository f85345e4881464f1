"""``FrameCallback``: the camera frames of a run, read from the files its stream resources name.

Frames travel as stream resource and stream datum documents (the image is a file, not an event value);
this router pairs each event of a stream with its frame and hands both to :meth:`FrameCallback.frame`,
so it works the same on live documents, documents from another process or documents replayed from
Tiled. Subclasses segment the frames (``SegmentationCallback``) or measure them (``calibrate_camera``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from event_model import DocumentRouter

from mxsight.devices.hdf5_store import read_frame

FrameReader = Callable[[str, str, int], np.ndarray]


class FrameCallback(DocumentRouter):
    """Resolves the frames of ``image_key`` in stream ``stream_name``; keeps them in ``frames`` unless
    a subclass overrides :meth:`frame`."""

    def __init__(self, *, image_key: str, stream_name: str = "primary", frame_reader: FrameReader = read_frame):
        super().__init__()
        self.image_key = image_key
        self.stream_name = stream_name
        self.frame_reader = frame_reader
        self.images: list[np.ndarray] = []
        self._descriptors: set[str] = set()
        self._resources: dict[str, dict] = {}
        self._frame_by_seq_num: dict[int, tuple[str, int]] = {}

    def frame(self, image: np.ndarray, event: dict) -> None:
        """One frame and its event (override to do something with it)."""
        self.images.append(image)

    def start(self, doc):
        self.images.clear()
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
        self.frame(self.frame_reader(resource["uri"], resource["parameters"]["dataset"], index), doc)
