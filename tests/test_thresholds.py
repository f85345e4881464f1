"""Per-notion thresholds: calibrated on validation images, recorded beside the model, used by the segmenter."""

import json

import numpy as np
import pytest

from mxsight.cli import main
from mxsight.notions import NOTIONS
from mxsight.training.simulated import render_dataset
from mxsight.training.thresholds import CANDIDATES, MIN_GAIN
from mxsight.vision.network import NetworkConfig, build_model
from mxsight.vision.network_segmenter import NetworkSegmenter

SHAPE = (64, 80)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(4)
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    build_model(NetworkConfig(widths=(4, 8, 8), groups=4, full_resolution_width=4)).save(path)
    return path


def test_thresholds_are_calibrated_written_and_used(tmp_path, tiny_model, capsys):
    render_dataset(6, tmp_path / "val", seed=3, workers=1, progress=False, shape_px=SHAPE)
    assert main(["model", "thresholds", str(tiny_model), "--data", str(tmp_path / "val"), "--write"]) == 0
    table = capsys.readouterr().out
    assert "| foreground | 0.50 |" in table
    card = json.loads(tiny_model.with_suffix(".json").read_text())
    assert set(card["thresholds"]) == set(NOTIONS) and all(t in CANDIDATES for t in card["thresholds"].values())
    for notion, score in card["thresholds_calibrated_on"]["biou_1"].items():
        at_half = float(table.split(f"| {notion} | 0.50 | ")[1].split(" |")[0])
        assert score >= at_half - 5e-4, notion  # the best candidate includes 0.5's neighbours; never worse than a plain cut by more than rounding
        if card["thresholds"][notion] != 0.5:
            assert score >= at_half + MIN_GAIN - 5e-4, notion  # a cut moves only for a real gain

    calibrated = NetworkSegmenter.load(tiny_model, working_size_px=max(SHAPE))  # segmented at the frame's size: masks are cut probabilities
    plain = NetworkSegmenter.load(tiny_model, working_size_px=max(SHAPE), thresholds={})
    assert list(calibrated.thresholds) == pytest.approx([card["thresholds"][n] for n in NOTIONS])
    image = np.random.default_rng(0).integers(30, 220, size=(*SHAPE, 3), dtype=np.uint8)
    with_cut, without = calibrated.predict(image), plain.predict(image)
    for k, notion in enumerate(NOTIONS):
        probability = np.asarray(without.probabilities[notion])
        assert np.array_equal(with_cut.masks[notion], probability > calibrated.thresholds[k]), notion


def test_bad_thresholds_are_named(tiny_model):
    with pytest.raises(ValueError, match="unknown notions \\['icy'\\]"):
        NetworkSegmenter.load(tiny_model, thresholds={"icy": 0.5})
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        NetworkSegmenter.load(tiny_model, thresholds={"ice": 1.5})
