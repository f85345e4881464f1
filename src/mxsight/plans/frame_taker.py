"""``FrameTaker``: takes a sweep's frames with the camera and goniometer, segments them and records
each prediction (stream ``predictions``) beside its frame (stream ``primary``).

A stepped sweep moves omega to each angle and takes a frame there; a continuous one takes a frame as
omega passes each angle while it turns, and segments them after the turn. Every sweep starts at the whole
turn nearest omega's position.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

import bluesky.plan_stubs as bps
import numpy as np
from bluesky.utils import FailedStatus

from mxsight.callbacks.segmentation import SegmentationCallback
from mxsight.devices.camera import CameraError, CameraTimeout
from mxsight.devices.prediction_recorder import PredictionRecorder
from mxsight.plans.reads import read_limits, read_position
from mxsight.plans.sweeps import Sweep
from mxsight.vision.features import FrameFeatures
from mxsight.vision.segmenter import Segmenter

def trigger_and_read_frame(devices, name: str = "primary"):
    """``bps.trigger_and_read`` of a camera with other devices, a camera that delivers no frame or
    reports a failure raising its own :class:`CameraTimeout` or :class:`CameraError` (so the run's
    stop document names it) instead of a bare FailedStatus."""
    try:
        return (yield from bps.trigger_and_read(devices, name=name))
    except FailedStatus as error:
        if isinstance(error.__cause__, (CameraTimeout, CameraError)):
            raise error.__cause__ from error
        raise


POLL_S = 0.005  # how often a continuous sweep reads omega while waiting for its next angle
TURN_END_TIMEOUT_S = 60.0  # after its frames are segmented, omega must have ended its turn within this


class FrameTaker:
    """Takes frames with the camera and goniometer, segments them and records their predictions."""

    def __init__(self, camera, goniometer, zoom, segmenter: Segmenter, spindle: str):
        self.camera, self.goniometer, self.zoom = camera, goniometer, zoom
        self.start_level: int | None = None  # read at the first sweep
        self._segmenter = segmenter
        omega_key = camera.exposure_omega_deg.name if camera.omega_source is not None else goniometer.omega.name
        self.callback = SegmentationCallback(
            segmenter, image_key=camera.image_key, omega_key=omega_key, spindle=spindle, empty_field=camera.reference_background()
        )
        self.recorder = PredictionRecorder(name="predictions", frame_shape=camera.frame_shape, write_directory=camera.write_directory)

    def set_zoom(self, level: int):
        """Change the zoom and give the segmenter the empty field of the new level."""
        if int((yield from bps.rd(self.zoom.level))) != level:
            yield from bps.mv(self.zoom, level)
        self._follow_empty_field()

    def use_segmenter(self, segmenter: Segmenter) -> None:
        """Segment the frames from now on with ``segmenter`` (a fallback), for this zoom's empty field."""
        self._segmenter = segmenter
        self._follow_empty_field()

    def _follow_empty_field(self) -> None:
        """Give the segmenter and the self-check the camera's empty field at the current zoom."""
        empty_field = self.camera.reference_background()
        self.callback.segmenter = self._segmenter.for_background(empty_field)
        self.callback.empty_field = empty_field

    def take(self):
        """One frame, its prediction recorded; returns its features."""
        frame_number = yield from self._acquire()
        yield from self._record_prediction(frame_number)
        return self.callback.frames[-1]

    def _acquire(self):
        """One frame recorded in ``primary``; returns its frame number."""
        reading = yield from trigger_and_read_frame([self.camera, self.goniometer, self.zoom])
        return reading[self.camera.frame_number.name]["value"]

    def _record_prediction(self, frame_number: int):
        self.recorder.load(self.callback.predictions[-1], self.callback.frames[-1], frame_number)
        yield from bps.trigger_and_read([self.recorder], name="predictions")

    def stepped(self, omegas_deg: Sequence[float], keep_going: Callable[[list[FrameFeatures]], bool] | None = None):
        """Frames at each of ``omegas_deg``; stops early when ``keep_going`` (given the features so
        far after each frame) says False."""
        features = []
        for omega in omegas_deg:
            yield from bps.mv(self.goniometer.omega, float(omega))
            features.append((yield from self.take()))
            if keep_going is not None and not keep_going(features):
                break
        return features

    def continuous(self, sweep: Sweep, keep_going: Callable[[list[FrameFeatures]], bool] | None = None):
        """Frames taken while omega turns through the sweep's span without stopping: one as omega passes
        each of the sweep's angles, at the camera's pace and not segmented yet (only exposures happen
        during the turn); then segmented and recorded in order, stopping early when ``keep_going``
        says False. Each frame's omega is the camera's at exposure."""
        if self.camera.omega_source is None:
            raise ValueError(f"a continuous sweep needs the camera {self.camera.name!r} to read omega at exposure (omega_source)")
        omega = self.goniometer.omega
        targets = list((yield from self._nearest_turn(sweep)))
        start_deg = targets[0]
        if abs((yield from read_position(omega)) - start_deg) > 1e-6:  # a move to where it is: no DMOV to wait for
            yield from bps.mv(omega, start_deg)
        group = f"continuous-turn-{uuid.uuid4()}"
        turn = yield from bps.abs_set(omega, start_deg + sweep.span_deg, group=group, wait=False)
        self.callback.defer()
        frame_numbers = []
        while targets:
            if (yield from read_position(omega)) + 1e-9 >= targets[0]:
                reading = yield from trigger_and_read_frame([self.camera, self.goniometer, self.zoom])
                frame_numbers.append(reading[self.camera.frame_number.name]["value"])
                exposed_deg = float(reading[self.callback.omega_key]["value"])
                if not np.isfinite(exposed_deg):  # no omega at exposure: count the frame for the angle it was taken at
                    exposed_deg = targets[0]
                while targets and targets[0] <= exposed_deg + 1e-9:  # a slow camera skips angles it passed
                    targets.pop(0)
            elif turn.done:
                break
            else:
                yield from bps.sleep(POLL_S)
        features = []
        for frame_number, frame in zip(frame_numbers, self.callback.segment_deferred()):
            yield from self._record_prediction(frame_number)
            features.append(frame)
            if keep_going is not None and not keep_going(features):
                break
        yield from bps.wait(group, timeout=TURN_END_TIMEOUT_S)
        if len(frame_numbers) < sweep.limits.min_frames:
            raise ValueError(
                f"the continuous sweep of {sweep.span_deg} deg gave {len(frame_numbers)} frames, fewer than "
                f"{sweep.limits.min_frames}: slow omega down or speed the camera up"
            )
        return features

    def sweep(self, sweep: Sweep, keep_going: Callable[[list[FrameFeatures]], bool] | None = None):
        """The sweep's frames; a stepped sweep stops early when ``keep_going`` says False."""
        if self.start_level is None:
            self.start_level = int((yield from bps.rd(self.zoom.level)))
        yield from self.set_zoom(sweep.level(self.zoom, self.start_level))
        if sweep.continuous:
            return (yield from self.continuous(sweep, keep_going))
        return (yield from self.stepped((yield from self._nearest_turn(sweep)), keep_going))

    def _nearest_turn(self, sweep: Sweep):
        """The sweep's angles shifted by whole turns to start nearest omega's position (after a sweep
        that ended at 330 deg, the next starts at 360, not back at 0), unless that leaves omega's limits
        (plan; returns the angles)."""
        omegas = sweep.omegas_deg()
        now = yield from read_position(self.goniometer.omega)
        shifted = omegas + 360.0 * round((now - sweep.start_deg) / 360.0)
        low, high = yield from read_limits(self.goniometer.omega)
        end = shifted[0] + sweep.span_deg
        if low < high and not (low <= shifted.min() and end <= high):
            return omegas
        return shifted
