"""The default segmenter on real frames: the network checked frame by frame with the classical
baseline where a frame fails, and promotion that refuses a model worse on the held-out real frames."""

import json

import numpy as np
import pytest

from mxsight.training.promote import PromotionRefused, _real_frames
from mxsight.training.real_evaluation import best_default
from mxsight.vision.classical import ClassicalSegmenter
from mxsight.vision.hybrid import CheckedSegmenter
from mxsight.vision.prediction import Prediction
from mxsight.vision.segmenter import Segmenter

SHAPE = (96, 128)


def _field():
    return np.full((*SHAPE, 3), 210, np.uint8)


def _frame():
    """A dark pin from the left edge, a thin stem and a round loop at the free end, on the field."""
    frame = _field()
    frame[36:60, :40] = 40
    frame[46:50, 40:70] = 60
    rows, cols = np.mgrid[: SHAPE[0], : SHAPE[1]]
    frame[(rows - 48) ** 2 + (cols - 86) ** 2 <= 16**2] = 70
    return frame


class Fixed(Segmenter):
    """Labels every frame with the same masks: the sample as seen, or its loop taken for the pin."""

    name = "fixed"

    def __init__(self, loop_as_pin: bool):
        self.loop_as_pin = loop_as_pin

    def _predict_usable(self, images):
        dark = images[0].mean(axis=2) < 150
        cols = np.arange(SHAPE[1])[None, :]
        masks = {n: np.zeros(SHAPE, bool) for n in ("crystal", "loop_inside", "loop", "stem", "pin", "capillary", "ice", "foreground")}
        masks["pin"] = dark & (cols < 40)
        masks["stem"] = dark & (cols >= 40) & (cols < 70)
        masks["pin" if self.loop_as_pin else "loop"] |= dark & (cols >= 70)
        masks["foreground"] = dark
        return [Prediction(masks=masks, probabilities={}, click=None, present=bool(masks["loop"].any()))]


def test_a_frame_that_fails_its_check_is_segmented_by_the_fallback():
    fallback = ClassicalSegmenter(background=_field())
    good = CheckedSegmenter(Fixed(loop_as_pin=False), fallback, background=_field()).predict(_frame())
    assert good.extras["unsure_reason"] == "" and "fallback_reason" not in good.extras and good.present
    checked = CheckedSegmenter(Fixed(loop_as_pin=True), fallback, background=_field())
    taken_over = checked.predict(_frame())
    assert "labelled pin" in taken_over.extras["fallback_reason"] and taken_over.present
    assert taken_over.unsure_reason == "" and taken_over.masks["loop"][48, 86] and not taken_over.masks["pin"][48, 86]
    assert checked.for_background(None).fallback.background is None


def test_both_failing_keeps_the_primary_marked_unsure():
    class Blind(Segmenter):
        name = "blind"

        def _predict_usable(self, images):
            return [Prediction.empty(SHAPE)]

    prediction = CheckedSegmenter(Fixed(loop_as_pin=True), Blind(), background=_field()).predict(_frame())
    assert prediction.unsure and "labelled pin" in prediction.unsure_reason


def _summary(found, loop_iou, foreground_iou=0.9):
    return {"loop_found": {"found": found, "frames": 5}, "loop_region": {"mean_iou": loop_iou}, "foreground": {"mean_iou": foreground_iou}}


def _real_report(tmp_path, model, new, old, checked=None, version="v1"):
    report = {
        "split": "evaluation",
        "evaluated": {"model": {"model": str(model), "version": "new"}, "compare": {"model": "default", "version": version}},
        "summary": {"model": new, "compare": old, "classical": _summary(3, 0.43), **({"model, else classical": checked} if checked else {})},
    }
    path = tmp_path / "real.json"
    path.write_text(json.dumps(report))
    return path


def test_the_default_is_whichever_finds_most_loops_on_real_frames():
    assert best_default({"summary": {"model": _summary(3, 0.36), "model, else classical": _summary(5, 0.67), "classical": _summary(3, 0.43)}}) == "checked"
    assert best_default({"summary": {"model": _summary(5, 0.8), "model, else classical": _summary(5, 0.8), "classical": _summary(4, 0.9)}}) == "network"
    assert best_default({"summary": {"model": _summary(2, 0.8), "classical": _summary(3, 0.1)}}) == "classical"


def test_promotion_needs_and_respects_the_real_frames(tmp_path):
    model = tmp_path / "new.keras"
    with pytest.raises(PromotionRefused, match="no evaluation on the held-out real frames"):
        _real_frames(None, model, "v1", force=False)
    assert _real_frames(None, model, "v1", force=True) == ({"evaluated": False}, None)
    worse = _real_report(tmp_path, model, _summary(2, 0.5), _summary(3, 0.36))
    with pytest.raises(PromotionRefused, match="finds 2 of 5 loops"):
        _real_frames(worse, model, "v1", force=False)
    stale = _real_report(tmp_path, model, _summary(4, 0.5), _summary(3, 0.36), version="v0")
    with pytest.raises(PromotionRefused, match="does not compare with the current default"):
        _real_frames(stale, model, "v1", force=False)
    better = _real_report(tmp_path, model, _summary(4, 0.5), _summary(3, 0.36), checked=_summary(5, 0.6))
    record, default = _real_frames(better, model, "v1", force=False)
    assert default == "checked" and record["evaluated"] and not record["worse"]
    with pytest.raises(PromotionRefused, match="not an evaluation of"):
        _real_frames(better, tmp_path / "other.keras", "v1", force=False)
