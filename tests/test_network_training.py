"""Training pieces: the loss, the augmented targets, and a tiny network that must overfit a few images."""

import sqlite3  # noqa: F401  (before TensorFlow, see mxsight/__init__)
import dataclasses

import numpy as np
import pytest

from mxsight.notions import NOTIONS
from mxsight.training.dataset_format import LabelledDataset
from mxsight.training.losses import FocalDiceLoss
from mxsight.training.pipeline import make_dataset
from mxsight.training.simulated import render_dataset
from mxsight.vision.network import NetworkConfig, build_model

SHAPE = (64, 80)


@pytest.fixture(scope="module")
def few_images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("few") / "ds"
    render_dataset(4, folder, seed=11, workers=1, progress=False, shape_px=SHAPE)
    return folder


def test_dice_term_counts_each_map_of_each_image():
    loss = FocalDiceLoss(gamma=2.0, dice_weight=1.0, smooth_px=1.0)
    truth = np.zeros((1, 4, 4, 2), np.float32)
    truth[0, :2, :2, 0] = 1.0
    exact = truth.copy()
    empty = np.zeros_like(truth)
    focal_only = FocalDiceLoss(dice_weight=0.0)
    # Exact prediction: Dice 1 on both maps (the empty one by the smoothing), only focal remains.
    assert float(loss(truth, exact)) == pytest.approx(float(focal_only(truth, exact)), abs=1e-6)
    # Predicting nothing: map 0 has Dice (0 + 1) / (4 + 1) = 0.2, map 1 has Dice 1: mean (1 - Dice) = 0.4.
    assert float(loss(truth, empty)) - float(focal_only(truth, empty)) == pytest.approx(0.4, abs=1e-5)


def test_channel_weights_weigh_maps_in_both_terms():
    truth = np.zeros((1, 4, 4, 2), np.float32)
    truth[0, :2, :2, 0] = 1.0
    empty = np.zeros_like(truth)
    plain = FocalDiceLoss(gamma=2.0, dice_weight=1.0)
    equal = FocalDiceLoss(gamma=2.0, dice_weight=1.0, channel_weights=[2.0, 2.0])
    assert float(equal(truth, empty)) == pytest.approx(float(plain(truth, empty)), abs=1e-6)
    # Map 1 (empty truth, empty prediction) costs nothing; weighing map 0 three times as much moves
    # the Dice term from (0.8 + 0) / 2 to (3 * 0.8 + 0) / 4, and the focal term likewise.
    heavy = FocalDiceLoss(gamma=2.0, dice_weight=1.0, channel_weights=[3.0, 1.0])
    light = FocalDiceLoss(gamma=2.0, dice_weight=0.0, channel_weights=[3.0, 1.0])
    assert float(heavy(truth, empty)) - float(light(truth, empty)) == pytest.approx(0.6, abs=1e-5)
    with pytest.raises(ValueError, match="3 weights for 2 maps"):
        FocalDiceLoss(channel_weights=[1.0, 1.0, 1.0])(truth, empty)
    with pytest.raises(ValueError, match=">= 0"):
        FocalDiceLoss(channel_weights=[-1.0, 1.0])


def test_edge_weights_weigh_errors_at_a_maps_true_edge():
    truth = np.zeros((1, 8, 8, 1), np.float32)
    truth[0, 2:6, 2:6, 0] = 1.0
    at_edge, far = truth.copy(), truth.copy()
    at_edge[0, 1, 3, 0] = 1.0  # one pixel too many, just outside the square
    far[0, 7, 7, 0] = 1.0  # one pixel too many, two pixels from the square's edge
    plain = FocalDiceLoss(dice_weight=0.0)
    zero = FocalDiceLoss(dice_weight=0.0, edge_weights=[0.0], edge_px=1)
    edged = FocalDiceLoss(dice_weight=0.0, edge_weights=[3.0], edge_px=1)
    assert float(plain(truth, at_edge)) == pytest.approx(float(plain(truth, far)), rel=1e-6)
    assert float(zero(truth, at_edge)) == pytest.approx(float(plain(truth, at_edge)), rel=1e-6)
    # Edge band with edge_px 1: rows and columns 1..6 less the inner 3..4 square, 36 - 4 = 32 pixels of
    # weight 4, the other 32 weigh 1: the focal mean is (4 e) / 160 at the edge and e / 160 far from it.
    error = float(plain(truth, far)) * 64
    assert float(edged(truth, at_edge)) == pytest.approx(4 * error / 160, rel=1e-4)
    assert float(edged(truth, far)) == pytest.approx(error / 160, rel=1e-4)
    with pytest.raises(ValueError, match="edge_weights must be >= 0"):
        FocalDiceLoss(edge_weights=[-1.0])
    with pytest.raises(ValueError, match="2 weights for 1 maps"):
        FocalDiceLoss(edge_weights=[1.0, 1.0])(truth, far)


def test_ice_weights_weigh_errors_where_the_ice_map_is_true():
    truth = np.zeros((1, 8, 8, 2), np.float32)
    truth[0, 2:6, 2:6, 0] = 1.0  # the loop
    truth[0, 0:2, :, 1] = 1.0  # the ice: a crust along the top two rows, outside the loop
    on_ice, off_ice = truth.copy(), truth.copy()
    on_ice[0, 0, 3, 0] = 1.0  # one loop pixel too many, on the crust
    off_ice[0, 7, 3, 0] = 1.0  # one loop pixel too many, on the background
    plain = FocalDiceLoss(dice_weight=0.0)
    iced = FocalDiceLoss(dice_weight=0.0, ice_weights=[3.0, 0.0], ice_channel=1)
    assert float(plain(truth, on_ice)) == pytest.approx(float(plain(truth, off_ice)), rel=1e-6)
    # The 16 crust pixels of the loop map weigh 4, its other 48 pixels and the ice map's 64 weigh 1:
    # the focal mean is 4 e / 176 for the error on the crust and e / 176 for the one off it.
    error = float(plain(truth, off_ice)) * 128
    assert float(iced(truth, on_ice)) == pytest.approx(4 * error / 176, rel=1e-4)
    assert float(iced(truth, off_ice)) == pytest.approx(error / 176, rel=1e-4)
    with pytest.raises(ValueError, match="ice_weights must be >= 0"):
        FocalDiceLoss(ice_weights=[-1.0, 0.0], ice_channel=1)
    with pytest.raises(ValueError, match="need ice_channel"):
        FocalDiceLoss(ice_weights=[1.0, 0.0])
    with pytest.raises(ValueError, match="3 weights for 2 maps"):
        FocalDiceLoss(ice_weights=[1.0, 0.0, 0.0], ice_channel=1)(truth, off_ice)


def _training_config(tmp_path, training_lines: str):
    """A training config with placeholder data and ``training_lines`` under [training], read back."""
    from mxsight.training.train import TrainingConfig

    config = tmp_path / "train.toml"
    config.write_text(f'[data]\ntrain = ["a"]\nvalidation = ["b"]\n[training]\nout = "runs"\n{training_lines}\n')
    return TrainingConfig.from_file(config)


def test_training_config_reads_edge_weights_by_name(tmp_path):
    from mxsight.training.dataset_format import TARGET_CHANNELS

    read = _training_config(tmp_path, "edge_weights = { loop = 4.0 }\nedge_px = 3")
    assert read.edge_px == 3
    assert read.loss_edge_weights() == [4.0 if name == "loop" else 0.0 for name in TARGET_CHANNELS]
    assert read.loss_ice_weights() is None
    iced = _training_config(tmp_path, "ice_weights = { loop = 4.0, loop_inside = 2.0 }").loss_ice_weights()
    assert iced == [{"loop": 4.0, "loop_inside": 2.0}.get(name, 0.0) for name in TARGET_CHANNELS]
    for lines, words in (
        ("edge_weights = { lop = 4.0 }", "edge_weights names unknown maps"),
        ("edge_weights = { click = 1.0 }", "cannot weigh the click map"),
        ("edge_px = 1.5", "edge_px must be a whole number"),
        ("ice_weights = { click = 1.0 }", "cannot weigh the click map"),
        ("ice_weights = { lop = 1.0 }", "ice_weights names unknown maps"),
    ):
        with pytest.raises(ValueError, match=words):
            _training_config(tmp_path, lines)


def test_training_config_reads_channel_weights_by_name(tmp_path):
    weights = _training_config(tmp_path, "channel_weights = { ice = 4.0, click = 0.5 }").loss_weights()
    assert weights == [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 4.0, 1.0, 0.5]
    with pytest.raises(ValueError, match="unknown maps \\['icee'\\]"):
        _training_config(tmp_path, "channel_weights = { icee = 4.0 }")
    with pytest.raises(ValueError, match="set initial_model too"):
        _training_config(tmp_path, 'reset_outputs = ["ice"]')


def test_reset_output_restarts_one_map_and_keeps_the_others(few_images):
    import keras

    from mxsight.training.reset_outputs import PRIOR_PROBABILITY, reset_output_channels
    from mxsight.vision.network import OUTPUT_CHANNELS

    keras.utils.set_random_seed(1)
    model = build_model(NetworkConfig(widths=(8, 16, 16), groups=4, full_resolution_width=4, dropout=0.0, weight_decay=0.0))
    frames = [LabelledDataset(few_images)[i].image for i in range(4)]
    images = np.stack([f if f.shape[:2] == SHAPE else f.transpose(1, 0, 2) for f in frames]).astype(np.float32)
    coarse, residual = [layer for layer in model.layers if type(layer).__name__ == "Conv2D" and layer.filters == len(OUTPUT_CHANNELS)]
    ice = OUTPUT_CHANNELS.index("ice")
    kernel, bias = coarse.get_weights()
    bias[ice] = -11.0  # a map switched off everywhere, as the stage-3 network's ice
    coarse.set_weights([kernel, bias])
    before = np.asarray(model(images, training=False))
    assert before[..., ice].max() < 1e-3
    reset_output_channels(model, ["ice"], images, seed=0)
    after = np.asarray(model(images, training=False))
    assert np.abs(after[..., ice] - PRIOR_PROBABILITY).max() < 0.002
    others = [k for k in range(len(OUTPUT_CHANNELS)) if k != ice]
    change = np.abs(after[..., others] - before[..., others])
    assert change.mean() < 0.01 and np.percentile(change, 99) < 0.05  # measured 0.004 and 0.023
    assert np.array_equal(coarse.get_weights()[0][..., others], kernel[..., others])
    with pytest.raises(ValueError, match="unknown maps \\['icy'\\]"):
        reset_output_channels(model, ["icy"], images)


def test_augmented_targets_keep_notions_nested_and_click_inside(tmp_path):
    render_dataset(6, tmp_path / "ds", seed=5, workers=1, progress=False, shape_px=SHAPE)
    data = make_dataset([tmp_path / "ds"], image_shape=SHAPE, batch_size=6, augment=True, seed=2, cache=True, crop_shape=(48, 56))
    images, targets = (t.numpy() for t in next(iter(data)))
    assert images.shape == (6, 48, 56, 3) and targets.shape == (6, 48, 56, len(NOTIONS) + 1)
    assert images.min() >= 0 and images.max() <= 255
    masks = {notion: targets[..., i] > 0.5 for i, notion in enumerate(NOTIONS)}
    for inner, outer in (("crystal", "loop_inside"), ("loop_inside", "loop"), ("loop", "foreground"), ("pin", "foreground")):
        assert not (masks[inner] & ~masks[outer]).any(), f"{inner} outside {outer} after augmentation"
    for index in range(6):
        click_map = targets[index, ..., -1]
        if click_map.max() > 0.9:
            peak = np.unravel_index(np.argmax(click_map), click_map.shape)
            assert masks["foreground"][index][peak], "click peak left the sample"


def test_tiny_network_overfits_a_handful_of_images(few_images):
    import keras

    keras.utils.set_random_seed(0)
    model = build_model(NetworkConfig(widths=(8, 16, 16), groups=4, full_resolution_width=4, dropout=0.0, weight_decay=0.0))
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=FocalDiceLoss())
    data = make_dataset([few_images], image_shape=SHAPE, batch_size=4, augment=False, seed=0, cache=True)
    images, targets = (t.numpy() for t in next(iter(data)))
    assert len(images) == len(LabelledDataset(few_images)) == 4
    loss_before = model.evaluate(images, targets, verbose=0)
    model.fit(data.repeat(), epochs=1, steps_per_epoch=300, verbose=0)
    loss_after = model.evaluate(images, targets, verbose=0)
    assert loss_after < 0.3 * loss_before
    predicted = np.asarray(model(images)) > 0.5
    truth = targets > 0.5
    for notion in ("foreground", "loop", "pin"):
        channel = NOTIONS.index(notion)
        union = np.count_nonzero(truth[..., channel] | predicted[..., channel])
        iou = np.count_nonzero(truth[..., channel] & predicted[..., channel]) / max(union, 1)
        assert iou > 0.8, f"{notion} IoU {iou:.3f} after overfitting"


def test_background_swap_keeps_the_sample_transmission():
    from mxsight.training.background_swap import swap_background

    rows, cols = 48, 60
    old_field = np.full((rows, cols, 3), 200.0, np.float32) * np.linspace(0.8, 1.0, cols)[None, :, None]
    foreground = np.zeros((rows, cols), np.float32)
    foreground[20:30, 25:40] = 1.0
    transmission = np.where(foreground[..., None] > 0, 0.4, 1.0)
    image = old_field * transmission
    new_field = np.full((rows, cols, 3), (90.0, 150.0, 60.0), np.float32)
    swapped = np.asarray(swap_background(image, foreground, new_field))
    assert np.allclose(swapped[foreground == 0], new_field[foreground == 0], rtol=0.03)
    assert np.allclose(swapped[foreground == 1], 0.4 * new_field[foreground == 1], rtol=0.05)


def test_pipeline_swaps_backgrounds(few_images):
    plain = make_dataset([few_images], image_shape=SHAPE, batch_size=4, augment=True, seed=3, cache=True)
    swapped = make_dataset([few_images], image_shape=SHAPE, batch_size=4, augment=True, seed=3, cache=True, background_swap_probability=1.0)
    (plain_images, plain_targets), (swapped_images, swapped_targets) = next(iter(plain)), next(iter(swapped))
    assert np.array_equal(plain_targets.numpy(), swapped_targets.numpy())
    assert np.abs(plain_images.numpy() - swapped_images.numpy()).mean() > 5.0


def test_pipeline_never_relights_a_frame_whose_own_field_is_dark(few_images, tmp_path):
    """A dark-field frame (the lamp off) has no field to divide by: swapping would turn it into noise."""
    from mxsight.training.dataset_format import DatasetWriter

    source = LabelledDataset(few_images)
    writer = DatasetWriter(tmp_path / "dark")
    for index in range(len(source)):
        example = source[index]
        writer.add(dataclasses.replace(example, image=(example.image // 20).astype(np.uint8)))
    writer.close()
    plain = make_dataset([tmp_path / "dark"], image_shape=SHAPE, batch_size=4, augment=True, seed=3, cache=True)
    swapped = make_dataset([tmp_path / "dark"], image_shape=SHAPE, batch_size=4, augment=True, seed=3, cache=True, background_swap_probability=1.0)
    assert np.array_equal(next(iter(plain))[0].numpy(), next(iter(swapped))[0].numpy())


def test_pipeline_empty_fields_have_every_labelled_map_zero(few_images):
    from mxsight.training.background_swap import training_empty_fields

    data = make_dataset([few_images], image_shape=SHAPE, batch_size=4, augment=True, seed=3, cache=True, empty_field_probability=1.0)
    images, targets = next(iter(data))
    targets = targets.numpy()
    assert np.all((targets == 0.0) | (targets == -1.0)), np.unique(targets)
    assert np.count_nonzero(targets == 0.0) > 0.5 * targets.size
    fields = training_empty_fields(SHAPE)[0]
    assert 0.5 * fields.mean() < images.numpy().mean() < 1.5 * fields.mean()
    with pytest.raises(ValueError, match="empty_field_probability must be within"):
        make_dataset([few_images], image_shape=SHAPE, batch_size=4, augment=True, seed=3, empty_field_probability=1.5)
    with pytest.raises(ValueError, match="draw_shares need augmented, repeated training data"):
        make_dataset([few_images], image_shape=SHAPE, batch_size=4, augment=True, seed=3, draw_shares=[1.0])


def test_training_datasets_are_mixed_in_proportion_to_their_sizes():
    import tensorflow as tf

    from mxsight.training.pipeline import _mixed

    from mxsight.training.pipeline import draw_weights

    large, small = tf.data.Dataset.range(0, 300), tf.data.Dataset.range(1000, 1100)
    drawn = np.array(list(_mixed([large, small], draw_weights([300, 100]), seed=3).as_numpy_iterator()))
    assert sorted(drawn) == list(range(300)) + list(range(1000, 1100))  # each example once
    from_small = drawn >= 1000
    # About a quarter of every stretch comes from the small dataset (concatenated: none, none, none, all).
    for stretch in np.array_split(from_small, 4):
        assert 0.1 < stretch.mean() < 0.45, stretch.mean()


def test_a_small_set_given_a_share_of_the_draws_is_drawn_that_often():
    import tensorflow as tf

    from mxsight.training.pipeline import _mixed, draw_weights

    assert draw_weights([3000, 1000, 100], [None, None, 0.2]) == pytest.approx([0.6, 0.2, 0.2])
    large, small = tf.data.Dataset.range(0, 3000).repeat(), tf.data.Dataset.range(10000, 10100).repeat()
    drawn = np.fromiter(_mixed([large, small], draw_weights([3000, 100], [None, 0.25]), seed=5).take(4000).as_numpy_iterator(), int)
    from_small = drawn >= 10000
    # By count the small set would be 3% of the draws; it is a quarter, in every stretch, its 100 examples drawn again and again.
    for stretch in np.array_split(from_small, 4):
        assert 0.2 < stretch.mean() < 0.3, stretch.mean()
    assert len(np.unique(drawn[from_small])) == 100
    for sizes, shares, words in (
        ([10, 10], [0.5], "1 draw shares for 2 datasets"),
        ([10, 10], [None, 1.0], "leaving nothing for the other datasets"),
        ([10, 10], [0.5, 0.4], "must add up to 1"),
        ([10, 10], [None, -0.1], "within \\(0, 1\\]"),
    ):
        with pytest.raises(ValueError, match=words):
            draw_weights(sizes, shares)


def test_training_config_reads_draw_shares_of_its_training_sets(tmp_path):
    from mxsight.training.train import TrainingConfig

    config = tmp_path / "train.toml"
    head = '[data]\ntrain = ["sim", "real"]\nvalidation = ["val"]\n'
    config.write_text(head + 'draw_shares = { real = 0.2 }\n[training]\nout = "runs"\nsteps_per_epoch = 10\n')
    assert TrainingConfig.from_file(config).training_shares() == [None, 0.2]
    for data_lines, training_lines, words in (
        ("draw_shares = { rael = 0.2 }", "steps_per_epoch = 10", "not training sets: .*rael"),
        ("draw_shares = { real = 0.2 }", "", "need steps_per_epoch"),
        ("draw_shares = { real = 1.0 }", "steps_per_epoch = 10", "leaving nothing"),
        ("draw_share = { real = 0.2 }", "steps_per_epoch = 10", "unknown \\[data\\] keys \\['draw_share'\\]"),
    ):
        config.write_text(head + data_lines + '\n[training]\nout = "runs"\n' + training_lines + "\n")
        with pytest.raises(ValueError, match=words):
            TrainingConfig.from_file(config)
