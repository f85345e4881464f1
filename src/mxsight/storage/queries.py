"""The questions beamline staff ask of recorded alignments, on any Tiled client.

    >>> from tiled.client import from_uri
    >>> catalog = from_uri("http://127.0.0.1:8000", api_key=...)
    >>> runs = find_alignments(catalog, puck="P3", since="2026-11-24", outcome="success", crystal_found=True)
    >>> failed = find_alignments(catalog, outcome="SampleNotFound", model_version="2026.12.07.1")
    >>> record = read_alignment(runs.values().last())        # frames, masks, fit as arrays
    >>> print(alignments_table(find_alignments(catalog), limit=20))

Criteria combine (all must hold). The same queries work without mxsight, e.g.
``catalog.search(Key("start.sample_id") == "S1").search(Key("summary.crystal_found") == True)``: the start
document holds who and how (sample, puck, zoom, model version), the ``summary`` (written by
:class:`mxsight.storage.tiled.SummarisingWriter`) what came of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from tiled.queries import Eq, Key, Like

from mxsight.notions import unpack_masks

OUTCOME_SUCCESS = "success"


def find_alignments(
    catalog,
    *,
    sample_id: str | None = None,
    puck: str | None = None,
    since: str | float | datetime | None = None,
    until: str | float | datetime | None = None,
    outcome: str | None = None,
    crystal_found: bool | None = None,
    model_version: str | None = None,
    plan_name: str | None = "auto_centre",
):
    """Runs in ``catalog`` (a Tiled container) matching every given criterion.

    ``since``/``until`` take POSIX timestamps, datetimes or ISO dates in local time ("2026-11-24",
    "2026-11-24 10:00"). ``outcome`` is "success" or the name of a failure such as "SampleNotFound".
    ``puck`` is the ``puck`` recorded in the start document (``md={"puck": "P3"}``);
    ``crystal_found`` selects runs whose last move centred a crystal (or not); ``model_version`` the
    segmentation network's version. ``plan_name=None`` searches every plan's runs.
    """
    results = catalog
    equal = {"start.plan_name": plan_name, "start.sample_id": sample_id, "start.puck": puck, "start.model_version": model_version}
    for key, value in equal.items():
        if value is not None:
            results = results.search(Key(key) == value)
    if since is not None:
        results = results.search(Key("start.time") >= _timestamp(since))
    if until is not None:
        results = results.search(Key("start.time") <= _timestamp(until))
    if outcome is not None:
        if outcome == OUTCOME_SUCCESS:
            results = results.search(Eq("stop.exit_status", OUTCOME_SUCCESS))
        else:
            results = results.search(Like("stop.reason", f"{outcome}:%"))
    if crystal_found is not None:
        results = results.search(Key("summary.crystal_found") == bool(crystal_found))
    return results


def _timestamp(when: str | float | datetime) -> float:
    """POSIX seconds from a timestamp, a datetime, or an ISO date string (local time)."""
    if isinstance(when, (int, float)):
        return float(when)
    if isinstance(when, datetime):
        return when.timestamp()
    try:
        return datetime.fromisoformat(when).timestamp()
    except (TypeError, ValueError):
        raise ValueError(f"cannot read {when!r} as a date; use a timestamp or an ISO date like '2026-11-24 10:00'") from None


def find_run(catalog, uid: str):
    """The run whose uid is ``uid`` or starts with it (as ``alignments_table`` shows uids); a prefix
    that matches no run or several is refused with what it matched."""
    if uid in catalog:
        return catalog[uid]
    matches = list(catalog.search(Like("start.uid", f"{uid}%")))
    if len(matches) != 1:
        raise KeyError(f"{len(matches)} runs have a uid starting with {uid!r}" + (f": {', '.join(matches[:5])}" if matches else ""))
    return catalog[matches[0]]


def find_collection_group(catalog, group: str, *, plan_name: str | None = None):
    """The runs of one ``multi_orientation_collection`` (``collection_group``), optionally one plan's;
    sort them by ``start.orientation_index``."""
    results = catalog.search(Key("start.collection_group") == group)
    if plan_name is not None:
        results = results.search(Key("start.plan_name") == plan_name)
    return results


@dataclass(frozen=True)
class AlignmentRecord:
    """One alignment run as arrays: camera frames (N, rows, cols, 3), per-notion masks (N, rows, cols)
    each, every frame's omega and features, and one row per sweep of the fit (``results``)."""

    uid: str
    start: dict
    summary: dict
    frames: np.ndarray
    masks: dict[str, np.ndarray]
    omega_deg: np.ndarray
    features: dict[str, np.ndarray]
    results: dict[str, np.ndarray]


def read_alignment(run, *, image_key: str = "oav_image", frames: bool = True) -> AlignmentRecord:
    """Frames, masks, per-frame features and fit of one recorded run (a Tiled ``BlueskyRun`` node).
    ``frames=False`` skips the camera frames and masks (the large part) and reads the rest."""
    predictions = run["predictions"]
    features = {key.removeprefix("predictions_"): np.asarray(predictions[key].read()) for key in predictions if key != "predictions_masks"}
    results = {key.removeprefix("results_"): np.asarray(run["results"][key].read()) for key in run["results"]} if "results" in run else {}
    masks: dict[str, np.ndarray] = {}
    images = np.empty((0,), dtype=np.uint8)
    if frames:
        images = np.asarray(run["primary"][image_key].read())
        packed = np.asarray(predictions["predictions_masks"].read())
        masks = unpack_masks(packed)
    return AlignmentRecord(
        uid=run.metadata["start"]["uid"],
        start=dict(run.metadata["start"]),
        summary=dict(run.metadata.get("summary") or {}),
        frames=images,
        masks=masks,
        omega_deg=features.get("omega_deg", np.empty(0)),
        features=features,
        results=results,
    )


TABLE_COLUMNS = ("time", "sample", "puck", "plan", "outcome", "target", "model", "frames", "network", "uid")


def alignments_table(runs, *, limit: int = 20) -> str:
    """The ``limit`` most recent of ``runs`` by start time (newest first) as a plain-text table. Only
    those runs are fetched (the server sorts), however many the catalog holds; a run written late (one
    replayed after an outage) is listed at the time it ran."""
    rows = []
    for run in runs.sort(("start.time", -1)).values()[:limit] if limit else []:
        start, summary, stop = run.metadata.get("start") or {}, run.metadata.get("summary") or {}, run.metadata.get("stop") or {}
        outcome = summary.get("outcome") or ("running" if not stop else str(stop.get("exit_status", "")))
        rows.append(
            (
                datetime.fromtimestamp(start["time"]).strftime("%Y-%m-%d %H:%M:%S") if "time" in start else "",
                str(start.get("sample_id", "")),
                str(start.get("puck", "")),
                str(start.get("plan_name", "")),
                outcome,
                str(summary.get("target", "")),
                str(summary.get("model", "")),
                str(summary.get("frames", "")),
                f"{start.get('model_name', '')} {start.get('model_version', '')}".strip(),
                str(start.get("uid", ""))[:8],
            )
        )
    if not rows:
        return "no alignments found"
    widths = [max(len(column), *(len(row[i]) for row in rows)) for i, column in enumerate(TABLE_COLUMNS)]
    lines = ["  ".join(column.ljust(width) for column, width in zip(TABLE_COLUMNS, widths))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(value.ljust(width) for value, width in zip(row, widths)) for row in rows]
    return "\n".join(lines)
