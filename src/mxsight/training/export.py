"""Recorded runs -> datasets (the retraining loop): ``mxsight dataset export``.

Two datasets are written under ``out``:

- ``labelled/``: frames whose labels a person vouched for. Frames of runs reviewed "accepted"
  (``mxsight.storage.review``) with their predicted masks and click, except frames the network was
  unsure of or the fit set aside; and every click of a ``click_centre`` run, on its frame, labelling
  the click map only (``"labelled": ["click"]``: training leaves the masks of that frame alone).
- ``to_label/``: frames a person should label first, with the network's masks as a draft and no labels
  claimed (``"labelled": []``): frames of runs reviewed "wrong", frames whose prediction was unsure
  (``predictions_unsure``), frames the movement-model fit set aside (``results_outlier_omegas_deg``)
  and frames of passes whose fit failed. Each is also written to ``to_label/labelme/`` as a PNG and a
  labelme file whose polygons are the network's masks, for an operator to correct in labelme; the
  corrected files import back with their provenance (``mxsight dataset import-labelme``).

A frame the network labelled only in part (a tracked frame, whose ``predictions_labelled_*_px`` give
the window it was segmented in) is exported as that window of the frame (``metadata["crop_px"]``:
top, left, rows, cols in the camera frame): outside it nothing was labelled. Every example's metadata
keeps its provenance: run uid, frame index, sample, omega, the frame's zoom
level (its pixel size when that is the start document's zoom), model version and why it was exported.
A run's latest review is the one that counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mxsight.notions import NOTIONS, unpack_masks
from mxsight.storage.passes import pass_slices
from mxsight.training.dataset_format import DatasetWriter, Example
from mxsight.training.labelme_export import write_labelme_draft

LABELLED, TO_LABEL = "labelled", "to_label"
LABELME_DRAFTS = "labelme"  # under to_label/: each frame to label as a PNG and a labelme draft of its masks


@dataclass
class ExportReport:
    labelled: int = 0
    to_label: int = 0
    runs: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def count(self, reason: str) -> None:
        self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def summary(self) -> str:
        reasons = ", ".join(f"{name} {count}" for name, count in sorted(self.reasons.items())) or "none"
        return f"{self.runs} runs: {self.labelled} labelled examples, {self.to_label} to label ({reasons})"


def export_runs(runs: Iterable, out: Path | str, *, image_key: str = "oav_image") -> ExportReport:
    """Write the examples of ``runs`` (Tiled run nodes) into ``out/labelled`` and ``out/to_label``."""
    out = Path(out)
    report = ExportReport()
    with DatasetWriter(out / LABELLED) as labelled, DatasetWriter(out / TO_LABEL) as to_label:
        writers = {LABELLED: labelled, TO_LABEL: to_label}
        for run in runs:
            report.runs += 1
            plan = run.metadata["start"].get("plan_name")
            examples = _click_examples(run, image_key) if plan == "click_centre" else _prediction_examples(run, image_key)
            for destination, reason, example in examples:
                writers[destination].add(example)
                if destination == TO_LABEL:
                    name = f"{example.metadata['run_uid'][:8]}-{example.metadata['frame_index']:04d}"
                    write_labelme_draft(out / TO_LABEL / LABELME_DRAFTS, name, example.image, example.masks,
                                        click_px=example.click_px, provenance=example.metadata)
                setattr(report, destination, getattr(report, destination) + 1)
                report.count(reason)
    return report


def _provenance(run, frame_index: int, omega_deg: float, reason: str, zoom_level: int | None = None) -> dict:
    start = run.metadata["start"]
    return {
        "source": f"run:{reason}",
        "reason": reason,
        "run_uid": start["uid"],
        "frame_index": int(frame_index),
        "sample_id": start.get("sample_id", ""),
        "plan_name": start.get("plan_name", ""),
        "omega_deg": float(omega_deg),
        "zoom": int(zoom_level) if zoom_level is not None else start.get("zoom"),
        "pixel_size_um": start.get("pixel_size_um") if zoom_level is None or zoom_level == start.get("zoom") else None,
        "spindle": start.get("spindle"),
        "model_version": start.get("model_version", ""),
    }


NOT_FITTED = ("skipped", "abandoned")  # a pass found not needed, and the start of one cut short: no fit judged them


def _pass_frames(run, omega: np.ndarray) -> tuple[set[int], set[int]]:
    """(frames a pass's fit set aside, frames of passes whose fit failed), as prediction indices.

    Each ``results`` row closes a pass: its frames are the last ``sweep_frames`` predictions recorded
    before it (frames of a search belong to none, nor do those of a pass ``abandoned`` before its fit)."""
    slices = pass_slices(run, len(omega))
    if not slices:
        return set(), set()
    results = run["results"]
    outcomes = [str(o) for o in np.asarray(results["results_outcome"].read())]
    columns = list(results)
    outliers_text = [str(t) for t in np.asarray(results["results_outlier_omegas_deg"].read())] if "results_outlier_omegas_deg" in columns else [""] * len(slices)
    outliers, failed = set(), set()
    for chunk, outcome, text in zip(slices, outcomes, outliers_text):
        members = range(chunk.start, chunk.stop)
        if outcome in NOT_FITTED:
            continue
        if outcome != "moved":
            failed.update(int(i) for i in members)
            continue
        values = [float(v) for v in text.split(",") if v]
        outliers.update(int(i) for i in members if any(abs(omega[i] - v) < 1e-3 for v in values))
    return outliers, failed


def _prediction_examples(run, image_key: str):
    if "predictions" not in run:
        return
    predictions = run["predictions"]
    omega = np.asarray(predictions["predictions_omega_deg"].read(), dtype=float)
    unsure = np.asarray(predictions["predictions_unsure"].read(), dtype=bool) if "predictions_unsure" in predictions else np.zeros(len(omega), bool)
    present = np.asarray(predictions["predictions_present"].read(), dtype=bool)
    click = np.stack([np.asarray(predictions[f"predictions_click_{axis}_px"].read(), dtype=float) for axis in ("row", "col")], axis=1)
    zoom_levels = np.asarray(run["primary"]["zoom_level"].read()) if "zoom_level" in run["primary"] else [None] * len(omega)
    outliers, failed = _pass_frames(run, omega)
    regions = _labelled_regions(predictions, len(omega))
    review = run.metadata.get("review") or {}
    reviewed = set(range(len(omega))) if review.get("frames") is None else set(review["frames"])
    for index in range(len(omega)):
        if review.get("verdict") == "wrong" and index in reviewed:
            destination, reason = TO_LABEL, "flagged wrong"
        elif unsure[index]:
            destination, reason = TO_LABEL, "unsure"
        elif index in outliers:
            destination, reason = TO_LABEL, "fit outlier"
        elif index in failed:
            destination, reason = TO_LABEL, "fit failed"
        elif review.get("verdict") == "accepted" and index in reviewed and present[index]:
            destination, reason = LABELLED, "accepted prediction"
        else:
            continue
        image = np.asarray(run["primary"][image_key][index])
        packed = np.asarray(predictions["predictions_masks"][index])
        point = None if not np.isfinite(click[index]).all() else (float(click[index][0]), float(click[index][1]))
        metadata = _provenance(run, index, omega[index], reason, zoom_levels[index])
        region = regions[index] or (0, 0, *image.shape[:2])
        top, left, rows, cols = region
        if (rows, cols) != image.shape[:2]:
            image, packed = image[top : top + rows, left : left + cols], packed[top : top + rows, left : left + cols]
            inside = point is not None and 0 <= point[0] - top < rows and 0 <= point[1] - left < cols
            point = (point[0] - top, point[1] - left) if inside else None
            metadata["crop_px"] = [int(top), int(left), int(rows), int(cols)]
        masks = unpack_masks(packed)
        if destination == TO_LABEL:
            metadata["labelled"] = []
        yield destination, reason, Example(image=image, masks=masks, click_px=point, metadata=metadata)


REGION_KEYS = tuple(f"predictions_labelled_{part}_px" for part in ("top", "left", "rows", "cols"))


def _labelled_regions(predictions, n_frames: int) -> list:
    """Each prediction's labelled region (top, left, rows, cols), or None per frame for runs recorded
    before regions were (every frame labelled whole then)."""
    if not all(key in predictions for key in REGION_KEYS):
        return [None] * n_frames
    columns = np.stack([np.asarray(predictions[key].read(), dtype=int) for key in REGION_KEYS], axis=1)
    return [tuple(int(v) for v in row) if row[2] > 0 and row[3] > 0 else None for row in columns]


def _click_examples(run, image_key: str):
    """Each operator click on the frame it was made on (matched by camera frame number); only the
    click map is labelled."""
    if "clicks" not in run:
        return
    clicks = run["clicks"]
    omega_clicked = np.asarray(clicks["clicks_omega_deg"].read(), dtype=float)
    rows = np.asarray(clicks["clicks_row_px"].read(), dtype=float)
    cols = np.asarray(clicks["clicks_col_px"].read(), dtype=float)
    clicked_frames = np.asarray(clicks["clicks_frame_number"].read(), dtype=int)
    primary = run["primary"]
    frame_key = next((key for key in primary if key.endswith("frame_number")), None)
    framed = np.asarray(primary[frame_key].read(), dtype=int) if frame_key else None
    omega_framed = np.asarray(primary[_omega_key(run)].read(), dtype=float)
    for omega, row, col, number in zip(omega_clicked, rows, cols, clicked_frames):
        if framed is not None and number in framed:
            index = int(np.flatnonzero(framed == number)[0])
        else:
            index = int(np.argmin(np.abs(omega_framed - omega)))
        image = np.asarray(primary[image_key][index])
        empty = {notion: np.zeros(image.shape[:2], dtype=bool) for notion in NOTIONS}
        metadata = {**_provenance(run, index, omega, "operator click"), "labelled": ["click"]}
        yield LABELLED, "operator click", Example(image=image, masks=empty, click_px=(float(row), float(col)), metadata=metadata)


def _omega_key(run) -> str:
    keys = [key for key in run["primary"] if key.endswith("omega") or key.endswith("omega_deg")]
    if not keys:
        raise ValueError(f"run {run.metadata['start']['uid']}: no omega in its primary stream")
    return sorted(keys, key=len)[0]
