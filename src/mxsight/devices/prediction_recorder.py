"""A soft device that records each frame's prediction as the ``predictions`` stream.

Masks are packed into uint8 bit flags (one bit per notion, see ``mxsight.notions``) and written to an
HDF5 file like camera frames, compressed: a 1024 x 1360 frame's masks take about 11 kB instead of
1.4 MB (gzip level 1, 1.3 ms more per frame here). The per-frame features travel inline in the event, with the part of the frame
the segmenter labelled (``labelled_*_px``: the whole frame, or the window a tracked frame was segmented
in; outside it the masks' zeros mean "not looked at").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ophyd import Component as Cpt
from ophyd import Device, Kind, Signal
from ophyd.status import Status

from mxsight.devices.hdf5_store import Hdf5FrameStore, Hdf5StoreDevice
from mxsight.vision.features import FrameFeatures
from mxsight.vision.prediction import Prediction


MASK_GZIP_LEVEL = 1


class PredictionRecorder(Hdf5StoreDevice, Device):
    """``load(prediction, features)`` then ``trigger_and_read`` records one frame's prediction."""

    frame_number = Cpt(Signal, value=-1, kind=Kind.normal)
    omega_deg = Cpt(Signal, value=0.0, kind=Kind.normal)
    present = Cpt(Signal, value=False, kind=Kind.normal)
    target_row_px = Cpt(Signal, value=float("nan"), kind=Kind.normal)
    target_col_px = Cpt(Signal, value=float("nan"), kind=Kind.normal)
    click_row_px = Cpt(Signal, value=float("nan"), kind=Kind.normal)
    click_col_px = Cpt(Signal, value=float("nan"), kind=Kind.normal)
    tip_row_px = Cpt(Signal, value=float("nan"), kind=Kind.normal)
    tip_col_px = Cpt(Signal, value=float("nan"), kind=Kind.normal)
    bbox_top_px = Cpt(Signal, value=float("nan"), kind=Kind.normal)
    bbox_left_px = Cpt(Signal, value=float("nan"), kind=Kind.normal)
    bbox_bottom_px = Cpt(Signal, value=float("nan"), kind=Kind.normal)
    bbox_right_px = Cpt(Signal, value=float("nan"), kind=Kind.normal)
    crystal_row_px = Cpt(Signal, value=float("nan"), kind=Kind.normal)
    crystal_col_px = Cpt(Signal, value=float("nan"), kind=Kind.normal)
    crystal_area_px = Cpt(Signal, value=0.0, kind=Kind.normal)
    loop_touches_edge = Cpt(Signal, value=False, kind=Kind.normal)
    loop_area_px = Cpt(Signal, value=0.0, kind=Kind.normal)
    loop_edge_on_ice = Cpt(Signal, value=0.0, kind=Kind.normal)
    loop_edge_along_ice_edge = Cpt(Signal, value=0.0, kind=Kind.normal)
    foreground_area_px = Cpt(Signal, value=0.0, kind=Kind.normal)
    problem = Cpt(Signal, value="", kind=Kind.normal)
    uncertain_fraction = Cpt(Signal, value=0.0, kind=Kind.normal)
    labelled_top_px = Cpt(Signal, value=0, kind=Kind.normal)
    labelled_left_px = Cpt(Signal, value=0, kind=Kind.normal)
    labelled_rows_px = Cpt(Signal, value=0, kind=Kind.normal)
    labelled_cols_px = Cpt(Signal, value=0, kind=Kind.normal)
    unsure = Cpt(Signal, value=False, kind=Kind.normal)
    unsure_reason = Cpt(Signal, value="", kind=Kind.normal)

    def __init__(self, *args, frame_shape: tuple[int, int], write_directory: Path | str, **kwargs):
        super().__init__(*args, **kwargs)
        self._store = Hdf5FrameStore(write_directory, f"{self.name}_masks", tuple(frame_shape), np.uint8, gzip_level=MASK_GZIP_LEVEL)
        self._pending_masks: np.ndarray | None = None

    def load(self, prediction: Prediction, features: FrameFeatures, frame_number: int) -> None:
        self._pending_masks = prediction.packed_masks()
        self.frame_number.put(int(frame_number))
        self.omega_deg.put(features.omega_deg)
        self.present.put(features.present)
        self.target_row_px.put(features.target_px[0])
        self.target_col_px.put(features.target_px[1])
        self.click_row_px.put(features.click_px[0])
        self.click_col_px.put(features.click_px[1])
        self.tip_row_px.put(features.tip_px[0])
        self.tip_col_px.put(features.tip_px[1])
        for signal, value in zip(
            (self.bbox_top_px, self.bbox_left_px, self.bbox_bottom_px, self.bbox_right_px), features.bbox_px, strict=True
        ):
            signal.put(float(value))
        self.crystal_row_px.put(features.crystal_px[0])
        self.crystal_col_px.put(features.crystal_px[1])
        self.crystal_area_px.put(features.crystal_area_px)
        self.loop_touches_edge.put(bool(features.loop_touches_edge))
        self.loop_area_px.put(features.area_px)
        self.loop_edge_on_ice.put(features.loop_edge_on_ice)
        self.loop_edge_along_ice_edge.put(features.loop_edge_along_ice_edge)
        self.foreground_area_px.put(features.foreground_area_px)
        self.problem.put(features.problem)
        self.uncertain_fraction.put(prediction.uncertain_fraction)
        self.unsure.put(prediction.unsure)
        self.unsure_reason.put(prediction.unsure_reason)
        for signal, value in zip(
            (self.labelled_top_px, self.labelled_left_px, self.labelled_rows_px, self.labelled_cols_px), prediction.region(), strict=True
        ):
            signal.put(int(value))

    def trigger(self) -> Status:
        if self._pending_masks is None:
            raise RuntimeError(f"{self.name}: load() a prediction before triggering")
        self._store.append(self._pending_masks)
        self._pending_masks = None
        return self._finished(self)
