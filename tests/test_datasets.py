"""The dataset format, simulated rendering, labelme import (on the shared real data) and contact sheets."""

import json

import numpy as np
import pytest
from PIL import Image
from skimage.draw import polygon

from mxsight.cli import main
from mxsight.training.dataset_format import DatasetWriter, Example, LabelledDataset
from mxsight.training.labelme import LabelmeError, import_labelme, read_labelme
from mxsight.training.simulated import render_dataset


def test_render_is_deterministic_and_independent_of_workers(tmp_path):
    render_dataset(6, tmp_path / "one", seed=5, workers=1, progress=False)
    render_dataset(6, tmp_path / "two", seed=5, workers=2, progress=False)
    first, second = LabelledDataset(tmp_path / "one"), LabelledDataset(tmp_path / "two")
    assert len(first) == len(second) == 6
    for a, b in zip(first, second):
        assert np.array_equal(a.image, b.image)
        assert a.metadata == b.metadata
        expected = (256, 320, 3) if a.metadata["spindle"] == "horizontal" else (320, 256, 3)
        assert a.image.shape == expected
        assert not (a.masks["loop_inside"] & ~a.masks["loop"]).any()
        assert a.click_px is not None
    with pytest.raises(FileExistsError):
        render_dataset(1, tmp_path / "one", seed=1, workers=1, progress=False)


def test_tf_dataset_streams_examples(tmp_path):
    render_dataset(3, tmp_path / "ds", seed=2, workers=1, progress=False)
    dataset = LabelledDataset(tmp_path / "ds")
    images = [(image.numpy(), masks.numpy(), click.numpy()) for image, masks, click, _ in dataset.tf_dataset()]
    assert len(images) == 3
    assert images[1][0].shape[2] == 3 and images[1][1].dtype == np.uint8
    assert np.array_equal(images[1][0], dataset[1].image)


def test_writer_rejects_bad_examples(tmp_path):
    with DatasetWriter(tmp_path / "ds") as writer:
        image = np.zeros((8, 8, 3), np.uint8)
        with pytest.raises(ValueError, match="unknown notions"):
            writer.add(Example(image, {"tail": np.zeros((8, 8), bool)}, None))
        with pytest.raises(ValueError, match="mask 'loop' is"):
            writer.add(Example(image, {"loop": np.zeros((4, 8), bool)}, None))
        writer.add(Example(image, {"loop": np.ones((8, 8), bool)}, None, {"origin": "test"}))
    (example,) = list(LabelledDataset(tmp_path / "ds"))
    assert example.masks["loop"].all() and not example.masks["pin"].any() and example.click_px is None
    with pytest.raises(FileNotFoundError, match="not an mxsight dataset"):
        LabelledDataset(tmp_path)


def test_shared_labelme_files_import_faithfully(shared_data, tmp_path):
    annotated = shared_data / "annotated"
    for path in sorted(annotated.glob("*.json")):
        document = json.loads(path.read_text())
        example = read_labelme(path)
        size = (document["imageHeight"], document["imageWidth"])
        assert example.image.shape == (*size, 3)
        labels = {shape["label"] for shape in document["shapes"]}
        for notion in ("loop", "loop_inside", "crystal", "stem"):
            expected = np.zeros(size, bool)
            for shape in document["shapes"]:
                if shape["label"] == notion:
                    points = np.asarray(shape["points"])
                    rr, cc = polygon(points[:, 1], points[:, 0], shape=size)
                    expected[rr, cc] = True
            assert example.masks[notion].sum() == expected.sum(), (path.name, notion)
        clicks = [shape["points"][0] for shape in document["shapes"] if shape["label"] == "user_click"]
        if clicks:
            assert example.click_px == pytest.approx((clicks[0][1], clicks[0][0]))
        if labels == {"background"}:
            assert not example.masks["foreground"].any()
        else:
            assert example.masks["foreground"].sum() > 1000
    report = import_labelme(annotated, tmp_path / "real")
    assert len(report.converted) == 4 and not report.errors
    assert len(LabelledDataset(tmp_path / "real")) == 4


def test_malformed_files_are_named_and_the_rest_converted(tmp_path):
    source = tmp_path / "labelme"
    source.mkdir()
    Image.fromarray(np.full((40, 50, 3), 200, np.uint8)).save(source / "good.png")
    good = {
        "shapes": [
            {"label": "loop", "shape_type": "polygon", "points": [[10, 10], [30, 10], [30, 30], [10, 30]]},
            {"label": "tail", "shape_type": "polygon", "points": [[1, 1], [5, 1], [5, 5]]},
            {"label": "user_click", "shape_type": "point", "points": [[20, 15]]},
        ],
        "imagePath": "good.png",
    }
    (source / "good.json").write_text(json.dumps(good))
    (source / "broken.json").write_text('{"shapes": [')
    (source / "noimage.json").write_text(json.dumps({"shapes": [], "imagePath": "missing.jpg"}))
    report = import_labelme(source, tmp_path / "out")
    assert report.converted == ["good.json"]
    assert any(e.startswith("broken.json: not a readable JSON file") for e in report.errors)
    assert any(e.startswith("noimage.json: image 'missing.jpg' not found") for e in report.errors)
    assert report.unknown_labels == {"tail": 1}
    (example,) = list(LabelledDataset(tmp_path / "out"))
    assert example.masks["loop"].sum() == 21 * 21 and example.click_px == (15.0, 20.0)
    with pytest.raises(LabelmeError, match="broken.json"):
        read_labelme(source / "broken.json")


def test_dataset_cli_render_and_show(tmp_path, capsys):
    assert main(["dataset", "render", "--n", "4", "--out", str(tmp_path / "ds"), "--seed", "1", "--workers", "1"]) == 0
    assert main(["dataset", "show", str(tmp_path / "ds"), "--out", str(tmp_path / "sheet.png"), "--count", "4"]) == 0
    with Image.open(tmp_path / "sheet.png") as sheet:
        assert sheet.size[0] > 500
    assert "wrote 4 labelled images" in capsys.readouterr().out
    assert main(["dataset", "render", "--n", "2", "--out", str(tmp_path / "windows"), "--seed", "1", "--workers", "1", "--loop-windows"]) == 0
    assert all(example.metadata["scene_mix"]["loop_windows"] for example in LabelledDataset(tmp_path / "windows"))
    assert main(["dataset", "render", "--n", "2", "--out", str(tmp_path / "liquid"), "--seed", "1", "--workers", "1", "--liquid", "1"]) == 0
    liquid = list(LabelledDataset(tmp_path / "liquid"))
    assert all(e.metadata["scene_mix"]["liquid_probability"] == 1.0 and e.metadata["sample"]["drop_bulge"] > 0 for e in liquid)
    assert all(e.metadata["scene_mix"]["polished_pin_probability"] == 0.0 for e in liquid)  # the other looks stay off


def test_many_training_views_render_with_consistent_labels():
    from mxsight.training.simulated import example_seed, render_example

    for index in range(150):
        example = render_example(example_seed(99, index))
        masks = example.masks
        assert not (masks["crystal"] & ~masks["loop_inside"]).any(), index
        assert not (masks["loop_inside"] & ~masks["loop"]).any(), index
        assert not (masks["loop"] & ~masks["foreground"]).any(), index


def test_scene_mix_draws_ice_rich_views_at_the_zooms_asked_for():
    from mxsight.training.simulated import SceneMix, example_seed, render_example

    mix = SceneMix(ice_probability=1.0, zoom_levels=(6, 7))
    examples = [render_example(example_seed(5, index), mix=mix) for index in range(8)]
    assert {e.metadata["zoom"] for e in examples} == {6, 7}
    assert all(e.metadata["sample"]["ice"] for e in examples)  # every sample has ice blobs
    crusts = sum(e.metadata["sample"]["ice_ring_arc_deg"] is not None for e in examples)
    assert 1 <= crusts <= 7  # half of them, on average, have a crust on the rim
    recorded_mix = examples[0].metadata["scene_mix"]
    assert recorded_mix["ice_probability"] == 1.0
    assert recorded_mix["zoom_levels"] == (6, 7)
    assert recorded_mix["loop_windows"] is False
    assert recorded_mix["liquid_probability"] == 0.0  # realism knobs are recorded, off by default
    with pytest.raises(ValueError, match="ice_probability must be in"):
        SceneMix(ice_probability=1.5)
    for levels in ((0, 7), [], (7, 7)):
        with pytest.raises(ValueError, match="zoom_levels must be a non-empty choice of distinct levels"):
            SceneMix(zoom_levels=levels)


def test_loop_windows_show_the_loop_as_the_fine_pass_sees_it():
    from mxsight.training.simulated import SceneMix, example_seed, loop_window_magnification, render_example
    from mxsight.devices.zoom import ZoomCalibration

    assert loop_window_magnification((100.0, 200.0), 1.0) == 1.0  # a small loop: the camera's own pixels
    assert loop_window_magnification((100.0, 400.0), 1.0) == 2.0  # 400 um x 1.6 = 640 px = 2 x 320
    assert loop_window_magnification((100.0, 4000.0), 1.0) == 3.4  # never beyond 0.8 of the whole field's scale
    calibration = ZoomCalibration.simulated()
    mix = SceneMix(ice_probability=1.0, zoom_levels=(6, 7), loop_windows=True)
    for index in range(6):
        example = render_example(example_seed(8, index), mix=mix)
        camera_um = calibration[example.metadata["zoom"]].pixel_size_um
        assert camera_um <= example.metadata["pixel_size_um"] <= 3.4 * camera_um
        rows, cols = np.nonzero(example.masks["loop"])
        shape = example.masks["loop"].shape
        # the loop fills a good part of the window and its centre is near the window's centre
        assert 0.3 * max(shape) < max(np.ptp(rows), np.ptp(cols)) + 1
        centre = np.array(example.metadata["loop_centre_px"])
        assert np.all(np.abs(centre - np.array(shape) / 2) <= 0.12 * np.array(shape)), (index, centre)
