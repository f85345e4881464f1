"""Evaluation metrics and robustness transforms, checked with a segmenter that knows the truth."""

import hashlib
import json

import numpy as np
import pytest

from mxsight.cli import main
from mxsight.training.dataset_format import LabelledDataset
from mxsight.notions import NOTIONS
from mxsight.training.evaluate import TRANSFORMS, empty_field_report, evaluate, robustness
from mxsight.training.simulated import render_dataset
from mxsight.vision.prediction import Prediction
from mxsight.vision.segmenter import Segmenter


class TruthSegmenter(Segmenter):
    """Returns the labelled masks and click of images it was shown, optionally spoiled."""

    name = "truth"

    def __init__(self, examples, spoil_loop=False):
        self.truth = {}
        for example in examples:
            self.truth[hashlib.sha1(example.image.tobytes() + str(example.image.shape).encode()).hexdigest()] = example
        self.spoil_loop = spoil_loop

    def _predict_usable(self, images):
        predictions = []
        for image in images:
            example = self.truth[hashlib.sha1(image.tobytes() + str(image.shape).encode()).hexdigest()]
            masks = dict(example.masks)
            if self.spoil_loop:
                masks["loop"] = np.zeros_like(masks["loop"])
            probabilities = {k: v.astype(np.float32) for k, v in masks.items()}
            predictions.append(Prediction(masks=masks, probabilities=probabilities, click=example.click_px, present=True))
        return predictions


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval") / "ds"
    render_dataset(6, folder, seed=8, workers=1, progress=False)
    return list(LabelledDataset(folder))


def test_perfect_and_spoiled_predictions_score_as_expected(examples):
    report = evaluate(TruthSegmenter(examples), examples)
    assert report["images"] == 6
    for notion, entry in report["notions"].items():
        assert entry["biou_1"] == 1.0 and entry["biou_0"] == 1.0 and entry["pass_fraction"]["0.95"] == 1.0, notion
    assert report["click_error_px"]["median"] == 0.0
    spoiled = evaluate(TruthSegmenter(examples, spoil_loop=True), examples)
    assert spoiled["notions"]["loop"]["biou_1"] == 0.0
    assert spoiled["notions"]["loop"]["pass_fraction"]["0.50"] == 0.0
    assert spoiled["notions"]["loop"]["biou_0"] < 1.0
    levels = [e.metadata["zoom"] for e in examples]
    assert {level: entry["images"] for level, entry in spoiled["by_zoom"].items()} == {str(z): levels.count(z) for z in set(levels)}
    for level, entry in spoiled["by_zoom"].items():
        assert entry["biou_1"]["loop"] == 0.0 and entry["biou_1"]["pin"] == 1.0, level


def test_crust_shares_count_the_loop_drawn_over_a_crust(tmp_path):
    """A constructed crusted view: a loop square with a crust band on and beyond its top edge. A
    segmenter whose loop takes in the band scores all of the crust outside the loop; the truth none."""
    from mxsight.training.dataset_format import Example

    masks = {notion: np.zeros((16, 16), bool) for notion in NOTIONS}
    masks["loop"][4:12, 4:12] = True
    masks["loop_inside"][6:10, 6:10] = True
    masks["ice"][2:6, 4:12] = True  # rows 2-3 outside the loop (16 px), rows 4-5 on it (16 px)
    masks["foreground"] = masks["loop"] | masks["ice"]
    image = np.random.default_rng(0).integers(60, 200, (16, 16, 3), dtype=np.uint8)  # a usable frame
    crusted = Example(image=image, masks=masks, click_px=None, metadata={"sample": {"ice_ring_arc_deg": [0.0, 90.0]}})
    truth = evaluate(TruthSegmenter([crusted]), [crusted])
    assert truth["crust"] == {"images": 1, "outside_px": 16, "outside_as_loop": 0.0, "under_px": 16, "under_as_loop": 1.0}

    class AroundTheCrust(TruthSegmenter):
        def _predict_usable(self, images):
            predictions = super()._predict_usable(images)
            for prediction in predictions:
                prediction.masks["loop"] = prediction.masks["loop"] | prediction.masks["ice"]
            return predictions

    around = evaluate(AroundTheCrust([crusted]), [crusted])
    assert around["crust"]["outside_as_loop"] == 1.0 and around["crust"]["under_as_loop"] == 1.0
    plain = Example(image=image + 1, masks=masks, click_px=None, metadata={"sample": {"ice_ring_arc_deg": None}})
    assert "crust" not in evaluate(TruthSegmenter([plain]), [plain])


def test_robustness_transforms_move_labels_with_the_image(examples):
    transformed = [transform(e) for transform in TRANSFORMS.values() for e in examples]
    segmenter = TruthSegmenter(examples + transformed)
    result = robustness(segmenter, examples)
    for name, entry in result["transforms"].items():
        assert entry["drop"] == pytest.approx(0.0, abs=1e-9), name
    for transform in TRANSFORMS.values():
        moved = transform(examples[0])
        assert all(mask.shape == moved.image.shape[:2] for mask in moved.masks.values())
        if moved.click_px is not None:
            row, col = (int(round(v)) for v in moved.click_px)
            assert moved.masks["loop"][max(row - 2, 0) : row + 3, max(col - 2, 0) : col + 3].any()


def test_evaluate_command_writes_markdown_and_json(tmp_path):
    render_dataset(3, tmp_path / "ds", seed=9, workers=1, progress=False)
    assert main(["evaluate", "--model", "classical", "--data", str(tmp_path / "ds"), "--out", str(tmp_path / "report")]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "| foreground |" in text and "click error median" in text
    assert "## Empty fields" in text
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["classical"]["empty_fields"]["views"] in (20, 40)  # procedural fields, or the real ones, both orientations
    assert set(report["classical"]["empty_fields"]["notions"]) == set(NOTIONS)


class BlobSegmenter(Segmenter):
    """Sees a 10 x 10 px loop (and foreground) with a click on images brighter than ``min_mean``."""

    name = "blob"

    def __init__(self, min_mean):
        self.min_mean = min_mean

    def _predict_usable(self, images):
        predictions = []
        for image in images:
            masks = {notion: np.zeros(image.shape[:2], bool) for notion in NOTIONS}
            seen = image.mean() > self.min_mean
            if seen:
                masks["loop"][:10, :10] = masks["foreground"][:10, :10] = True
            probabilities = {k: v.astype(np.float32) for k, v in masks.items()}
            predictions.append(Prediction(masks=masks, probabilities=probabilities, click=(5.0, 5.0) if seen else None, present=seen))
        return predictions


def test_empty_field_report_counts_views_with_a_notion():
    fields = np.stack([np.full((40, 50, 3), level, np.float32) for level in (60.0, 120.0, 180.0)])
    report = empty_field_report(BlobSegmenter(min_mean=100.0), fields)
    assert report["views"] == 6
    assert report["notions"]["loop"]["views_with_notion"] == pytest.approx(4 / 6)
    assert report["notions"]["loop"]["max_area_fraction"] == pytest.approx(100 / 2000)
    assert report["notions"]["pin"]["views_with_notion"] == 0.0 and report["notions"]["pin"]["max_area_fraction"] == 0.0
    assert report["views_with_click"] == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match="no empty fields"):
        empty_field_report(BlobSegmenter(min_mean=100.0), np.zeros((0, 40, 50, 3)))
