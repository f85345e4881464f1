"""Which recorded frames belong to which pass of an alignment run."""

from __future__ import annotations

import numpy as np


def pass_slices(run, n_frames: int) -> list[slice]:
    """One slice of prediction indices per ``results`` row: each row closes a pass, whose frames are
    the last ``sweep_frames`` predictions recorded before it (frames of a search belong to none).
    Empty when the run records no passes."""
    if "results" not in run or "results_sweep_frames" not in run["results"]:
        return []
    results = run["results"]
    counts = [int(c) for c in np.asarray(results["results_sweep_frames"].read())]
    closed_at = np.asarray(results["time"].read(), dtype=float)
    predicted_at = np.asarray(run["predictions"]["time"].read(), dtype=float)[:n_frames]
    slices = []
    for count, time_closed in zip(counts, closed_at, strict=True):
        stop = int(np.count_nonzero(predicted_at <= time_closed))
        slices.append(slice(max(stop - count, 0), stop))
    return slices
