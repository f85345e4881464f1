"""The segmentation network: any input size, the Segmenter interface, and a smoke training run."""

import numpy as np
import pytest

from mxsight.cli import main
from mxsight.training.simulated import render_dataset
from mxsight.vision.network import OUTPUT_CHANNELS, NetworkConfig, build_model, stride

TINY = NetworkConfig(widths=(4, 8, 8), groups=4, full_resolution_width=4)


@pytest.mark.parametrize("full_resolution_width", [0, 4])
def test_model_is_fully_convolutional(full_resolution_width):
    config = NetworkConfig(widths=(4, 8, 8), groups=4, full_resolution_width=full_resolution_width)
    model = build_model(config)
    assert stride(config) == 8
    for shape in ((64, 80), (80, 64), (128, 200)):
        maps = np.asarray(model(np.zeros((2, *shape, 3), np.float32)))
        assert maps.shape == (2, *shape, len(OUTPUT_CHANNELS))
        assert ((maps >= 0) & (maps <= 1)).all()


def test_bad_config_is_named():
    with pytest.raises(ValueError, match="not divisible by groups"):
        NetworkConfig(widths=(6, 8), groups=4)


def test_network_segmenter_returns_input_resolution_predictions(tmp_path):
    from mxsight.vision.network_segmenter import NetworkSegmenter

    path = tmp_path / "tiny.keras"
    build_model(TINY).save(path)
    segmenter = NetworkSegmenter.load(path, working_size_px=96)
    assert segmenter.stride == 8
    rng = np.random.default_rng(0)
    image = rng.integers(30, 220, size=(101, 133, 3), dtype=np.uint8)
    first, black = segmenter.predict_batch([image, np.zeros_like(image)])
    assert first.masks["loop"].shape == (101, 133)
    assert first.probabilities["pin"].dtype == np.float32
    assert "black" in black.problem
    again = NetworkSegmenter.load(path, working_size_px=96).predict(image)
    assert np.array_equal(again.probabilities["loop"], first.probabilities["loop"])
    with pytest.raises(FileNotFoundError):
        NetworkSegmenter.load(tmp_path / "missing.keras")


def test_train_command_runs_and_writes_its_artifacts(tmp_path):
    render_dataset(8, tmp_path / "train", seed=1, workers=1, progress=False, shape_px=(64, 80))
    render_dataset(4, tmp_path / "val", seed=2, workers=1, progress=False, shape_px=(64, 80))
    config = tmp_path / "train.toml"
    config.write_text(
        """
[data]
train = ["train"]
validation = ["val"]
[model]
widths = [4, 8, 8]
groups = 4
[training]
out = "run"
image_shape = [64, 80]
batch_size = 4
epochs = 2
seed = 3
"""
    )
    assert main(["train", "--config", str(config)]) == 0
    run = tmp_path / "run"
    for name in ("model.keras", "history.csv", "learning_curve.png"):
        assert (run / name).exists(), name
    assert len((run / "history.csv").read_text().strip().splitlines()) == 3
    fine_tune = tmp_path / "fine-tune.toml"
    fine_tune.write_text(config.read_text().replace('out = "run"', 'out = "run2"\ninitial_model = "run/model.keras"').replace("epochs = 2", "epochs = 1"))
    assert main(["train", "--config", str(fine_tune)]) == 0
    assert (tmp_path / "run2" / "model.keras").exists()
    fine_tune.write_text(fine_tune.read_text().replace("widths = [4, 8, 8]", "widths = [4, 8, 12]"))
    with pytest.raises(ValueError, match="another architecture"):
        main(["train", "--config", str(fine_tune)])
    config.write_text(config.read_text().replace("seed = 3", "seed = 3\nbogus = 1"))
    with pytest.raises(ValueError, match="unknown \\[training\\] keys"):
        main(["train", "--config", str(config)])


def test_pipeline_targets_hold_masks_and_click(tmp_path):
    from mxsight.training.dataset_format import LabelledDataset
    from mxsight.training.pipeline import make_dataset

    render_dataset(2, tmp_path / "ds", seed=4, workers=1, progress=False, shape_px=(64, 80))
    example = LabelledDataset(tmp_path / "ds")[0]
    images, targets = next(iter(make_dataset([tmp_path / "ds"], image_shape=tuple(example.image.shape[:2]), batch_size=2, augment=False, seed=0)))
    images, targets = images.numpy(), targets.numpy()
    assert targets.shape[-1] == len(OUTPUT_CHANNELS)
    loop = OUTPUT_CHANNELS.index("loop")
    assert targets[0, ..., loop].sum() == pytest.approx(example.masks["loop"].sum())
    peak = np.unravel_index(np.argmax(targets[0, ..., -1]), targets.shape[1:3])
    assert np.hypot(peak[0] - example.click_px[0], peak[1] - example.click_px[1]) <= 1.0


def test_click_is_the_centre_of_the_click_peak_in_frame_pixels():
    from mxsight.vision.network_maps import click_point

    rows, cols = np.mgrid[0:60, 0:80].astype(float)
    peak = np.exp(-((rows - 20.3) ** 2 + (cols - 51.6) ** 2) / (2 * 3.0**2))
    second = 0.5 * np.exp(-((rows - 45) ** 2 + (cols - 10) ** 2) / (2 * 3.0**2))
    click = click_point(peak + second, (240, 320), threshold=0.2)
    assert click == pytest.approx(((20.3 + 0.5) * 4 - 0.5, (51.6 + 0.5) * 4 - 0.5), abs=0.2)
    assert click_point(0.1 * peak, (240, 320), threshold=0.2) is None


def test_thresholded_maps_pack_into_the_recorded_bit_flags():
    from mxsight.notions import NOTIONS, pack_masks
    from mxsight.vision.network_maps import pack_bits

    binary = np.random.default_rng(3).random((37, 53, len(NOTIONS))) > 0.5
    expected = pack_masks({notion: binary[..., k] for k, notion in enumerate(NOTIONS)})
    assert np.array_equal(pack_bits(binary), expected)
    assert np.array_equal(pack_bits(binary[:, ::2]), expected[:, ::2])  # a strided view packs the same


def test_refinement_window_holds_the_loop_at_camera_resolution(tmp_path):
    from mxsight.vision.network_segmenter import REFINE_SHAPE, NetworkSegmenter

    segmenter = NetworkSegmenter(build_model(TINY), stride=8)
    maps = np.zeros((64, 80, len(OUTPUT_CHANNELS)), np.float32)
    loop = OUTPUT_CHANNELS.index("loop")
    maps[30:35, 40:47, loop] = 0.9
    maps[2:4, 2:4, loop] = 0.9
    row, col, height, width = segmenter.refinement_window(maps, (1024, 1360))
    assert (height, width) == REFINE_SHAPE
    assert row <= 30 * 16 and row + height >= 35 * 16 and col <= 40 * 17 and col + width >= 47 * 17
    maps[5:60, 5:75, loop] = 0.9
    assert segmenter.refinement_window(maps, (1024, 1360)) is None
    assert segmenter.refinement_window(np.zeros_like(maps), (1024, 1360)) is None


def test_maps_of_other_than_eight_notions_or_not_boolean_pack_the_slow_way():
    from mxsight.vision.network_maps import pack_bits

    rng = np.random.default_rng(4)
    seven = rng.random((9, 11, 7)) > 0.5
    assert np.array_equal(pack_bits(seven), np.packbits(seven, axis=-1, bitorder="little")[..., 0])
    eight = (rng.random((9, 11, 8)) > 0.5).astype(np.uint8)
    assert np.array_equal(pack_bits(eight), pack_bits(eight.astype(bool)))


@pytest.mark.parametrize("shape", [(256, 320), (288, 360), (512, 640), (609, 761)])
def test_bit_flags_of_the_window_are_those_of_resizing_the_maps_and_thresholding(shape):
    import tensorflow as tf
    from scipy import ndimage

    from mxsight.notions import NOTIONS
    from mxsight.vision.network_maps import bilinear_bit_flags, pack_bits

    rng = np.random.default_rng(5)
    smooth = ndimage.gaussian_filter(rng.random((64, 80, len(NOTIONS))).astype(np.float32), (3, 3, 0))
    maps = np.clip((smooth - smooth.mean()) * 25 + 0.5, 0, 1).astype(np.float32)  # edges everywhere, some exactly 0 or 1
    thresholds = np.linspace(0.3, 0.7, len(NOTIONS)).astype(np.float32)
    expected = pack_bits(np.asarray(tf.image.resize(maps, shape, method="bilinear")) > thresholds)
    flags = bilinear_bit_flags(maps, thresholds, shape)
    assert flags.shape == shape and flags.dtype == np.uint8
    assert np.array_equal(flags, expected)
    assert 0 < np.count_nonzero(flags) < flags.size
