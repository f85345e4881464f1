"""Evaluation on real frames, per frame: the table that chooses models.

For each labelled real frame of a split (``data/real/splits.toml``) and each segmenter: the IoU of
the foreground, the loop region (loop, loop_inside and crystal together: what the alignment centres
on), the pin, the stem and the crystal, each only where the truth has that notion (a notion absent
from the truth scores nothing rather than a free 1.0), and whether the loop was found (the true loop
region's centroid inside the predicted loop region, and the predicted region's centroid inside the
true one). Empty fields of the split's camera set-ups are judged too: the share on which the
segmenter reports no sample.

Frames are scored as the plans use them: a prediction that failed its self-check
(:attr:`Prediction.unsure_reason`, set by a segmenter that checks its own frames, as the checked
default does) is never fitted, so on a labelled frame it scores as no sample (its loop not found) and on
an empty field it is not counted as judged empty but as unsure. A flagged frame counts as a failure
either way. Segmenters that do not check themselves (the network alone, the classical baseline) are
scored on their masks as given.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from mxsight.training.dataset_format import Example
from mxsight.training.evaluate import report_paths
from mxsight.training.real_data import SPLITS_FILE, Split, empty_field_paths, read_rgb, real_examples, shared_data_root
from mxsight.training.real_overlays import EvaluationPictures
from mxsight.vision.prediction import Prediction
from mxsight.vision.segmenter import Segmenter

SCORED = ("foreground", "loop_region", "pin", "stem", "crystal")
LOOP_REGION = ("loop", "loop_inside", "crystal")


def loop_region(masks: Mapping[str, np.ndarray]) -> np.ndarray:
    """Loop, loop_inside and crystal together."""
    return np.logical_or.reduce([np.asarray(masks[n], dtype=bool) for n in LOOP_REGION])


def _iou(truth: np.ndarray, predicted: np.ndarray) -> float:
    union = np.count_nonzero(truth | predicted)
    return float(np.count_nonzero(truth & predicted) / union) if union else 1.0


def _inside(point: tuple[float, float], mask: np.ndarray) -> bool:
    row, col = (int(round(v)) for v in point)
    return 0 <= row < mask.shape[0] and 0 <= col < mask.shape[1] and bool(mask[row, col])


def loop_found(truth: np.ndarray, predicted: np.ndarray) -> bool:
    """Whether the predicted loop region is the true loop: each one's centroid lies in the other."""
    if not predicted.any():
        return False
    return _inside(ndi.center_of_mass(truth), predicted) and _inside(ndi.center_of_mass(predicted), truth)


def frame_scores(example: Example, prediction: Prediction) -> dict:
    """IoU per scored notion (None where the truth lacks it), ``loop_found`` (None without a loop) and
    ``unsure`` (the self-check's reason, "" when it passed), of ``prediction`` as the plans use it: no
    sample when it is unsure."""
    unsure = prediction.unsure_reason
    if unsure:
        prediction = Prediction.empty(prediction.shape)
    truth = {**example.masks, "loop_region": loop_region(example.masks)}
    predicted = {**prediction.masks, "loop_region": loop_region(prediction.masks)}
    scores: dict[str, object] = {n: (_iou(truth[n], predicted[n]) if truth[n].any() else None) for n in SCORED}
    scores["loop_found"] = loop_found(truth["loop_region"], predicted["loop_region"]) if truth["loop_region"].any() else None
    scores["present"] = bool(prediction.present)
    scores["unsure"] = unsure
    return scores


def evaluate_frames(segmenters: Mapping[str, Segmenter], examples: Iterable[Example], pictures: EvaluationPictures | None = None) -> list[dict]:
    """One row per frame: its path, facility and each segmenter's :func:`frame_scores`; ``pictures``
    draws each frame's predictions."""
    rows = []
    for example in examples:
        row = {"frame": example.metadata.get("real_path", example.metadata.get("source", "?")), "facility": example.metadata.get("facility", "")}
        predictions = {name: segmenter.predict(example.image) for name, segmenter in segmenters.items()}
        row["scores"] = {name: frame_scores(example, prediction) for name, prediction in predictions.items()}
        if pictures is not None:
            pictures.frame(row["frame"], example.image, example.masks, predictions)
        rows.append(row)
    return rows


def summary(rows: list[dict], name: str) -> dict:
    """Mean IoU per notion over the frames that have it, and loops found out of frames with a loop."""
    result: dict[str, object] = {}
    for notion in SCORED:
        values = [r["scores"][name][notion] for r in rows if r["scores"][name][notion] is not None]
        result[notion] = {"mean_iou": float(np.mean(values)) if values else None, "frames": len(values)}
    found = [r["scores"][name]["loop_found"] for r in rows if r["scores"][name]["loop_found"] is not None]
    result["loop_found"] = {"found": int(sum(found)), "frames": len(found)}
    result["unsure_frames"] = sum(bool(r["scores"][name].get("unsure")) for r in rows)
    return result


def empty_field_judgement(segmenters: Mapping[str, Segmenter], paths: list[Path], root: Path, pictures: EvaluationPictures | None = None) -> dict:
    """Per segmenter: how many of the empty fields it judges empty (no sample, self-check passed), and on
    which it reports a sample or is unsure (the self-check failed: the plans fit nothing, nor call the
    pin empty); ``pictures`` draws the fields some segmenter got wrong."""
    result = {name: {"fields": len(paths), "judged_empty": 0, "sample_reported_on": [], "unsure_on": []} for name in segmenters}
    for path in paths:
        image = read_rgb(path)
        predictions = {name: segmenter.predict(image) for name, segmenter in segmenters.items()}
        if pictures is not None:
            pictures.empty_field(str(path.relative_to(root)), image, predictions)
        for name, prediction in predictions.items():
            if prediction.unsure_reason:
                result[name]["unsure_on"].append(str(path.relative_to(root)))
            elif prediction.present:
                result[name]["sample_reported_on"].append(str(path.relative_to(root)))
            else:
                result[name]["judged_empty"] += 1
    return result


def _cell(value, unsure: str = "") -> str:
    if value is None:
        return "-"
    if unsure:
        return "**no** (unsure)"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    return f"{value:.2f}"


def markdown(rows: list[dict], empty: dict, split: str) -> str:
    names = list(rows[0]["scores"]) if rows else list(empty)
    lines = [f"## Real frames, {split} split: IoU per frame (- where the frame has no such notion)", ""]
    lines.append("| frame | segmenter | " + " | ".join(SCORED) + " | loop found |")
    lines.append("|---" * (3 + len(SCORED)) + "|")
    for row in rows:
        for name in names:
            scores = row["scores"][name]
            lines.append(f"| {row['frame']} | {name} | " + " | ".join(_cell(scores[n]) for n in SCORED) + f" | {_cell(scores['loop_found'], scores.get('unsure', ''))} |")
    lines += ["", "| segmenter | " + " | ".join(f"{n} (mean)" for n in SCORED) + " | loops found | empty fields judged empty |", "|---" * (3 + len(SCORED)) + "|"]
    for name in names:
        means = summary(rows, name)
        cells = [_cell(means[n]["mean_iou"]) for n in SCORED]
        found, unsure_frames = means["loop_found"], means["unsure_frames"]
        judged = empty[name]
        unsure_fields = len(judged.get("unsure_on", []))
        loops = f"{found['found']} of {found['frames']}" + (f" ({unsure_frames} unsure)" if unsure_frames else "")
        fields = f"{judged['judged_empty']} of {judged['fields']}" + (f" ({unsure_fields} unsure)" if unsure_fields else "")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {loops} | {fields} |")
    return "\n".join(lines) + "\n"


CHECKED = "model, else classical"  # the model checked frame by frame, the classical baseline where it fails
KINDS = {"model": "network", CHECKED: "checked", "classical": "classical"}


def rank_key(entry: dict) -> tuple[float, float, float]:
    """How a segmenter ranks on real frames: loops found first, then the loop region's mean IoU,
    then the foreground's (higher is better)."""
    found = entry["loop_found"]
    return (found["found"] / max(found["frames"], 1), entry["loop_region"]["mean_iou"] or 0.0, entry["foreground"]["mean_iou"] or 0.0)


def best_default(report: dict) -> str:
    """The segmenter ``Segmenter.default()`` should be ("network", "checked" or "classical"): the best
    ranked (:func:`rank_key`) of the model, the model checked with the classical fallback, and the
    classical baseline in a real-frames report; ties go to the earlier of those."""
    candidates = [name for name in KINDS if name in report["summary"]]
    best = max(candidates, key=lambda name: rank_key(report["summary"][name]))
    return KINDS[best]


def real_evaluation_command(
    segmenters: Mapping[str, Segmenter],
    split: Split,
    out: Path,
    *,
    evaluated: Mapping | None = None,
    splits_file: Path = SPLITS_FILE,
    root: Path | None = None,
    overlays: Path | None = None,
) -> str:
    """Evaluate ``segmenters`` on the real frames and empty fields of ``split``; write ``out``.md/.json
    (``evaluated``: what the names stand for, e.g. the model's path). ``splits_file`` and ``root``
    (where its paths lie) score other frames, a facility's own; by default the project's splits under
    the shared data folder. ``overlays``: a folder for the pictures (:class:`EvaluationPictures`)."""
    root = root or shared_data_root()
    pictures = EvaluationPictures(overlays) if overlays is not None else None
    rows = evaluate_frames(segmenters, real_examples(split, root=root, splits_file=splits_file), pictures)
    empty = empty_field_judgement(segmenters, empty_field_paths(split, root=root, splits_file=splits_file), root, pictures)
    text = markdown(rows, empty, split)
    if pictures is not None:
        text += f"\nPictures of each frame's predictions: {len(pictures.close())} PNG files in {overlays}\n"
    summaries = {name: summary(rows, name) for name in segmenters}
    if any(name in KINDS for name in segmenters):
        text += f"\nBest as the default (loops found, then loop region, then foreground): {best_default({'summary': summaries})}.\n"
    report = {
        "evaluated": dict(evaluated or {}),
        "split": split,
        **({} if splits_file == SPLITS_FILE else {"splits_file": str(splits_file), "data_root": str(root)}),
        "segmenters": {name: s.describe() for name, s in segmenters.items()},
        "frames": rows,
        "summary": summaries,
        "empty_fields": empty,
    }
    markdown_path, json_path = report_paths(out)
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.write_text(text)
    json_path.write_text(json.dumps(report, indent=2))
    return text
