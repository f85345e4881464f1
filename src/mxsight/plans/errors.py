"""Named failures of alignment plans. Their text starts with the class name, so the reason recorded
in a run's stop document can be queried by failure."""


class AlignmentError(RuntimeError):
    """Base class: the plan stopped without moving motors on an unreliable result. ``outcome`` is what
    the plan had measured when it stopped (``auto_centre``: each sweep's features and the moves made
    before), so a refused alignment can be inspected or refitted; None where a plan sets none."""

    outcome = None

    def __str__(self) -> str:
        return f"{type(self).__name__}: {super().__str__()}"


class SampleNotFound(AlignmentError):
    """No sample (loop) was seen in enough frames."""


class FrameUnusable(AlignmentError):
    """The camera delivered frames that cannot show a sample (black, saturated, uniform)."""


class SegmentationNotTrusted(AlignmentError):
    """Too many of a sweep's frames failed the segmenter's self-check (its foreground disagrees with
    the empty field, or its labels do not look like a mounted sample), so none of them is fitted."""


class FitNotConfident(AlignmentError):
    """The movement model does not describe the data well enough to move motors."""


class MoveOutOfLimits(AlignmentError):
    """The computed move would take a motor beyond its limits."""


class SampleOffScreen(AlignmentError):
    """A sample is seen but runs out of the field of view, so its centre cannot be measured."""


class PinNotCentrable(MoveOutOfLimits):
    """The sample cannot be brought onto the axis and the beam within the motors' travel: the pin is
    too long or too short for the alignment stage, or bent (the loop sits farther off the rotation axis
    than the centring table reaches)."""


class RasterNotPossible(AlignmentError):
    """No raster grid can be drawn: the loop is not seen at the face-on or edge-on angle, or the grid
    would take a motor beyond its limits."""


class CameraNotCalibrated(AlignmentError):
    """The zoom calibration in use was never measured on this camera (``calibrate_camera``), or
    contradicts the orientation a plan was given: a move derived from it could go the wrong way."""
