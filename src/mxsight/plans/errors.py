"""Named failures of alignment plans. Their text starts with the class name, so the reason recorded
in a run's stop document can be queried by failure."""


class AlignmentError(RuntimeError):
    """Base class: the plan stopped without moving motors on an unreliable result."""

    def __str__(self) -> str:
        return f"{type(self).__name__}: {super().__str__()}"


class SampleNotFound(AlignmentError):
    """No sample (loop) was seen in enough frames."""


class FrameUnusable(AlignmentError):
    """The camera delivered frames that cannot show a sample (black, saturated, uniform)."""


class FitNotConfident(AlignmentError):
    """The movement model does not describe the data well enough to move motors."""


class MoveOutOfLimits(AlignmentError):
    """The computed move would take a motor beyond its limits."""
