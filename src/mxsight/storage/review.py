"""An operator's verdict on a recorded alignment, kept in the run's metadata (``review``).

"accepted" says the predictions of the run's frames were right (they may become training labels);
"wrong" says they were not (those frames go to be labelled by hand). ``frames`` narrows the verdict to
some frames (indices in the ``predictions`` stream); None means the whole run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

VERDICTS = ("accepted", "wrong")


def review_run(run, verdict: str, *, frames: Sequence[int] | None = None, reviewer: str = "", note: str = "") -> dict:
    """Record ``verdict`` on ``run`` (a Tiled run node from a client that may write) and return it."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
    if "predictions" not in run:
        raise ValueError(f"run {run.metadata['start']['uid']} has no predictions stream: nothing to accept or reject")
    count = len(run["predictions"]["predictions_omega_deg"].read())
    if frames is not None:
        frames = sorted({int(f) for f in frames})
        outside = [f for f in frames if not 0 <= f < count]
        if outside:
            raise ValueError(f"frames {outside} are not in this run (it has {count} predictions, 0..{count - 1})")
    review = {"verdict": verdict, "frames": frames, "reviewer": reviewer, "note": note, "time": time.time()}
    run.update_metadata(metadata={"review": review}, drop_revision=True)
    return review
