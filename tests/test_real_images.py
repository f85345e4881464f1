"""Real frames: the project's labels, the evaluation-only split, and the default segmenter on them.

Reads the shared real data (../shared/data beside the repository, or $MXSIGHT_SHARED_DATA); every test
here skips, saying so, when it is absent.
"""

import json

import numpy as np
import pytest
from skimage.draw import polygon

from mxsight.training.labelme import read_labelme
from mxsight.training.real_data import LABELS_DIR, RealSplits, empty_field_paths, label_file, real_examples
from mxsight.notions import NOTIONS
from mxsight.training.dataset_format import Example
from mxsight.training.real_evaluation import empty_field_judgement, evaluate_frames, frame_scores, loop_found, markdown, summary
from mxsight.vision.prediction import Prediction
from mxsight.vision.segmenter import Segmenter

# Issue 29's targets on the evaluation-only real frames (IoU).
TARGET_IOU = {"foreground": 0.92, "loop_region": 0.85, "pin": 0.85, "stem": 0.70, "crystal": 0.40}
TARGET_EMPTY_FIELDS = 0.99


@pytest.fixture(scope="module")
def root(real_root):
    return real_root


@pytest.fixture(scope="module")
def evaluation_rows(root):
    return evaluate_frames({"default": Segmenter.default()}, real_examples("evaluation", root=root))


def _shoelace(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))


def test_every_label_file_imports_with_the_areas_of_its_polygons(root):
    files = sorted(LABELS_DIR.rglob("*.json"))
    assert len(files) == 6
    for path in files:
        document = json.loads(path.read_text())
        assert not document.get("imageData"), f"{path.name} embeds image data"
        example = read_labelme(path)
        size = (document["imageHeight"], document["imageWidth"])
        assert example.image.shape == (*size, 3), path.name
        by_notion: dict[str, list[np.ndarray]] = {}
        for shape in document["shapes"]:
            if shape["shape_type"] == "polygon":
                by_notion.setdefault(shape["label"], []).append(np.asarray(shape["points"], float))
        assert "loop" in by_notion, f"{path.name} has no loop"
        for notion, polygons in by_notion.items():
            if notion == "not_background":
                continue
            area = sum(_shoelace(p) for p in polygons)
            perimeter = sum(np.hypot(*np.diff(np.vstack([p, p[:1]]), axis=0).T).sum() for p in polygons)
            imported = int(example.masks[notion].sum())
            assert abs(imported - area) <= 0.5 * perimeter + 4 * len(polygons), (path.name, notion, imported, area)
            raster = np.zeros(size, bool)
            for p in polygons:
                rr, cc = polygon(p[:, 1], p[:, 0], shape=size)
                raster[rr, cc] = True
            assert imported == raster.sum(), (path.name, notion)
        clicks = [s for s in document["shapes"] if s["label"] == "user_click"]
        assert len(clicks) == 1 and example.masks["loop"][int(example.click_px[0]), int(example.click_px[1])], path.name


def test_splits_name_existing_frames_and_keep_the_required_held_out_share(root):
    splits = RealSplits.load()
    for split in ("evaluation", "training"):
        for entry in splits.labelled[split]:
            assert label_file(entry, root).exists(), entry
    held_out = splits.labelled["evaluation"]
    assert sum(e.startswith("soleil_px2/") for e in held_out) >= 2
    assert sum(e.startswith("other_facilities/") for e in held_out) >= 3
    fields = empty_field_paths("evaluation", root=root)
    assert len(fields) == 40 and all(splits.split_of_setup(str(p.relative_to(root))) == "evaluation" for p in fields)
    training_fields = {str(p) for p in empty_field_paths("training", root=root)}
    assert not training_fields & {str(p) for p in fields}


def test_loop_found_needs_each_centroid_inside_the_other():
    truth = np.zeros((40, 40), bool)
    truth[10:20, 10:20] = True
    assert loop_found(truth, truth)
    shifted = np.zeros_like(truth)
    shifted[10:20, 16:30] = True  # overlaps, but its centroid lies outside the true loop
    assert not loop_found(truth, shifted)
    assert not loop_found(truth, np.zeros_like(truth))


def _loop_frame() -> tuple[Example, Prediction]:
    """A labelled frame with a loop and a prediction that labels it exactly."""
    masks = {notion: np.zeros((40, 40), bool) for notion in NOTIONS}
    masks["loop"][10:20, 10:20] = masks["foreground"][10:20, 10:20] = True
    example = Example(image=np.zeros((40, 40, 3), np.uint8), masks=masks, click_px=(15.0, 15.0))
    probabilities = {notion: mask.astype(np.float32) for notion, mask in masks.items()}
    return example, Prediction(masks=dict(masks), probabilities=probabilities, click=(15.0, 15.0), present=True)


def test_a_frame_that_failed_its_self_check_scores_as_the_plans_use_it():
    """Plans fit nothing to an unsure frame: its loop is not found and its masks score as none."""
    example, prediction = _loop_frame()
    assert frame_scores(example, prediction)["loop_found"] and frame_scores(example, prediction)["loop_region"] == 1.0
    prediction.extras["unsure_reason"] = "the sample's free end is labelled pin"
    scores = frame_scores(example, prediction)
    assert scores["loop_found"] is False and scores["loop_region"] == 0.0 and scores["foreground"] == 0.0
    assert scores["unsure"] == "the sample's free end is labelled pin"
    rows = [{"frame": "f", "facility": "", "scores": {"checked": scores}}]
    assert summary(rows, "checked")["loop_found"] == {"found": 0, "frames": 1} and summary(rows, "checked")["unsure_frames"] == 1
    empty = {"checked": {"fields": 2, "judged_empty": 1, "sample_reported_on": [], "unsure_on": ["e"]}}
    table = markdown(rows, empty, "evaluation")
    assert "| **no** (unsure) |" in table and "| 0 of 1 (1 unsure) | 1 of 2 (1 unsure) |" in table


def test_an_unsure_empty_field_is_not_judged_empty(tmp_path):
    from PIL import Image

    class Fixed(Segmenter):
        name, version = "fixed", "1"

        def __init__(self, present: bool, unsure: str):
            self.present, self.unsure = present, unsure

        def _predict_usable(self, images):
            predictions = [Prediction.empty(image.shape[:2]) for image in images]
            for prediction in predictions:
                prediction.present = self.present
                prediction.extras["unsure_reason"] = self.unsure
            return predictions

    path = tmp_path / "field.png"
    Image.fromarray(np.random.default_rng(0).integers(100, 200, (32, 32, 3), dtype=np.uint8)).save(path)
    segmenters = {"empty": Fixed(False, ""), "unsure": Fixed(True, "no edge reached"), "unsure, none": Fixed(False, "field differs"), "sample": Fixed(True, "")}
    judged = empty_field_judgement(segmenters, [path], tmp_path)
    assert [judged[name]["judged_empty"] for name in segmenters] == [1, 0, 0, 0]
    for name in ("unsure", "unsure, none"):
        assert judged[name]["unsure_on"] == ["field.png"] and judged[name]["sample_reported_on"] == []
    assert judged["sample"]["sample_reported_on"] == ["field.png"]


def test_the_default_segmenter_holds_its_ground_on_the_held_out_real_frames(evaluation_rows):
    """The floors are what the checked network measures now (every loop found, loop region 0.72,
    foreground 0.82): a change that loses ground on real frames fails here. Issue 29's IoU targets
    are not met yet (below)."""
    means = summary(evaluation_rows, "default")
    assert means["loop_found"]["frames"] == 5 and means["loop_found"]["found"] == 5
    assert means["loop_region"]["mean_iou"] >= 0.70
    assert means["foreground"]["mean_iou"] >= 0.80


@pytest.mark.xfail(strict=True, reason="issue 29: the IoU targets are not met on real frames yet (open)")
def test_the_default_segmenter_meets_the_targets_on_every_held_out_real_frame(evaluation_rows):
    for row in evaluation_rows:
        scores = row["scores"]["default"]
        assert scores["loop_found"] is not False, row["frame"]
        for notion, target in TARGET_IOU.items():
            assert scores[notion] is None or scores[notion] >= target, (row["frame"], notion, scores[notion])


@pytest.mark.xfail(strict=True, reason="issue 29: the default reports samples on held-out empty fields (open)")
def test_every_held_out_empty_field_is_judged_empty(root):
    paths = empty_field_paths("evaluation", root=root)
    judged = empty_field_judgement({"default": Segmenter.default()}, paths, root)["default"]
    assert judged["judged_empty"] >= TARGET_EMPTY_FIELDS * len(paths)
