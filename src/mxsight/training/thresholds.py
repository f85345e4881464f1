"""``mxsight model thresholds``: per-notion probability thresholds calibrated on validation images.

One threshold of 0.5 for every map is a guess: a map trained with a heavier loss weight, or one the
network is unsure of (ice, capillaries), scores better cut higher. For each notion the threshold that
maximises the mean BIoU_1 (the evaluation's score, :mod:`mxsight.training.evaluate`) over the
validation images is chosen from ``CANDIDATES`` (kept at the current one unless the best gains at
least ``MIN_GAIN``: a cut moved for a gain within the noise of a few hundred images is a guess too),
and written into the model's settings beside it
(``<stem>.json``), which ``NetworkSegmenter.load`` and ``Segmenter.default()`` read. Calibrate on
validation data, never on the test set the model is reported on.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mxsight.notions import NOTIONS
from mxsight.training.dataset_format import LabelledDataset
from mxsight.training.evaluate import _iou

CANDIDATES = tuple(round(0.3 + 0.05 * i, 2) for i in range(13))  # 0.30 ... 0.90
MIN_GAIN = 0.005  # of mean BIoU_1


def calibrate_thresholds(segmenter, data: Path | str, *, limit: int | None = None) -> dict[str, dict[str, float]]:
    """Per notion: the BIoU_1 at the segmenter's current threshold, the chosen threshold (the best
    candidate, or the current one when the best gains less than ``MIN_GAIN``) and its BIoU_1, from ``segmenter.predict``'s probabilities on the images of ``data``."""
    dataset = LabelledDataset(data)
    count = min(limit or len(dataset), len(dataset))
    if count == 0:
        raise ValueError(f"{data} has no images to calibrate thresholds on")
    scores = {notion: np.zeros(len(CANDIDATES)) for notion in NOTIONS}
    current = {notion: 0.0 for notion in NOTIONS}
    for index in range(count):
        example = dataset[index]
        prediction = segmenter.predict(example.image)
        for notion in NOTIONS:
            truth, probability = example.masks[notion], np.asarray(prediction.probabilities[notion])
            scores[notion] += [_iou(truth, probability > t) for t in CANDIDATES]
            current[notion] += _iou(truth, prediction.masks[notion])
    result = {}
    for k, notion in enumerate(NOTIONS):
        best = int(np.argmax(scores[notion]))
        now, now_score, best_score = float(segmenter.thresholds[k]), current[notion] / count, float(scores[notion][best] / count)
        chosen = (float(CANDIDATES[best]), best_score) if best_score - now_score >= MIN_GAIN else (now, now_score)
        result[notion] = {"current_threshold": now, "current_biou_1": now_score, "threshold": chosen[0], "biou_1": chosen[1]}
    return result


def write_thresholds(model: Path | str, calibration: dict[str, dict[str, float]], data: Path | str) -> Path:
    """Record the calibrated thresholds in the model's settings file (``<stem>.json``), keeping what
    else it says (a model card), with the data they were calibrated on."""
    card_path = Path(model).with_suffix(".json")
    card = json.loads(card_path.read_text()) if card_path.exists() else {}
    card["thresholds"] = {notion: entry["threshold"] for notion, entry in calibration.items()}
    card["thresholds_calibrated_on"] = {"data": str(Path(data).resolve()), "biou_1": {n: round(e["biou_1"], 4) for n, e in calibration.items()}}
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    return card_path


def markdown(calibration: dict[str, dict[str, float]]) -> str:
    lines = ["| notion | threshold now | BIoU_1 now | calibrated threshold | BIoU_1 |", "|---|---|---|---|---|"]
    for notion, entry in calibration.items():
        lines.append(f"| {notion} | {entry['current_threshold']:.2f} | {entry['current_biou_1']:.3f} | {entry['threshold']:.2f} | {entry['biou_1']:.3f} |")
    return "\n".join(lines) + "\n"
