"""The shipped default network: loads offline, segments simulated beamline frames, names bad input."""

import numpy as np
import pytest

from mxsight.sim.backgrounds import background_for
from mxsight.sim.projection import CameraGeometry, GoniometerPositions
from mxsight.sim.render import render
from mxsight.sim.scene import random_sample
from mxsight.vision.classical import ClassicalSegmenter
from mxsight.vision.hybrid import CheckedSegmenter
from mxsight.vision.model_files import default_segmenter_kind
from mxsight.vision.network_segmenter import NetworkSegmenter
from mxsight.vision.segmenter import Segmenter

CAMERA = CameraGeometry(pixel_size_um=1.8, beam_position_px=(512.0, 680.0))


def _iou(a, b):
    union = (a | b).sum()
    return (a & b).sum() / union if union else 1.0


@pytest.fixture(scope="module")
def segmenter():
    return NetworkSegmenter.shipped()


@pytest.fixture(scope="module")
def frames():
    background = background_for(5, CAMERA.shape_px)
    return [render(random_sample(seed), CAMERA, GoniometerPositions(omega_deg=omega), background, noise_seed=seed) for seed in (21, 22, 23) for omega in (0.0, 90.0)]


def test_default_is_the_shipped_network_checked_as_its_card_says(segmenter):
    default = Segmenter.default(spindle="vertical")
    assert default_segmenter_kind() == "checked"  # chosen on the held-out real frames (docs/model-card.md)
    assert isinstance(default, CheckedSegmenter) and default.primary is segmenter and default.spindle == "vertical"
    assert isinstance(default.fallback, ClassicalSegmenter) and default.fallback.spindle == "vertical"
    description = default.describe()
    assert description["model_name"] == "network" and description["model_version"] == segmenter.version != "0"
    assert description["segmenter"] == "network, checked, else classical"


def test_a_card_naming_an_unknown_default_segmenter_is_refused(tmp_path, monkeypatch, segmenter):
    import json
    import shutil

    from mxsight.vision.model_files import MODELS_DIR_VARIABLE, models_directory

    shutil.copy(models_directory() / "default.keras", tmp_path / "default.keras")
    card = json.loads((models_directory() / "default.json").read_text())
    (tmp_path / "default.json").write_text(json.dumps({**card, "default_segmenter": "best"}))
    monkeypatch.setenv(MODELS_DIR_VARIABLE, str(tmp_path))
    with pytest.raises(ValueError, match="default_segmenter must be one of network, checked, classical, got 'best'"):
        Segmenter.default()


def test_default_segments_simulated_frames(segmenter, frames):
    predictions = segmenter.predict_batch([frame.image for frame in frames])
    foreground = [_iou(p.masks["foreground"], f.masks["foreground"]) for p, f in zip(predictions, frames)]
    loop = [_iou(p.masks["loop"], f.masks["loop"]) for p, f in zip(predictions, frames)]
    assert min(foreground) >= 0.85, foreground
    assert np.mean(loop) >= 0.7, loop
    assert all(p.present for p in predictions)


def test_grayscale_frame_is_accepted_and_bad_frames_are_named(segmenter, frames):
    grey = frames[0].image.mean(axis=2).astype(np.uint8)
    prediction = segmenter.predict(grey)
    assert prediction.masks["foreground"].shape == grey.shape and prediction.present
    with pytest.raises(ValueError, match="uint8"):
        segmenter.predict(frames[0].image.astype(np.float32))
    with pytest.raises(ValueError, match="NaN"):
        segmenter.predict(np.full((64, 64, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match="empty frame"):
        segmenter.predict(np.zeros((0, 0, 3), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        segmenter.predict(np.zeros((64, 64, 4), np.uint8))


def test_tracking_segments_the_next_frame_in_the_loops_window_only(segmenter):
    """A sweep's next frame goes through the network once, in a window placed from the frames before;
    it is labelled there only, agrees with segmenting the frame whole, and a loop that is not where
    the window expects it sends the frame through both passes again."""
    background = background_for(5, CAMERA.shape_px)
    sample = random_sample(21)
    views = [render(sample, CAMERA, GoniometerPositions(omega_deg=omega), background, noise_seed=21) for omega in (0.0, 20.0, 40.0)]
    first = segmenter.track(views[0].image)
    assert first.labelled_region is None and first.extras["loop_box_px"] is not None
    second = segmenter.track(views[1].image, [first])
    third = segmenter.track(views[2].image, [first, second])
    for view, tracked in ((views[1], second), (views[2], third)):
        top, left, rows, cols = tracked.labelled_region
        assert rows % 32 == 0 and cols % 40 == 0 and rows * cols < 0.5 * view.image.shape[0] * view.image.shape[1]
        assert not tracked.masks["foreground"][:top].any() and not tracked.masks["foreground"][top + rows :].any()
        assert _iou(tracked.masks["loop"], segmenter.predict(view.image).masks["loop"]) >= 0.9
        assert _iou(tracked.masks["loop"], view.masks["loop"]) >= 0.75
    moved = render(sample, CAMERA, GoniometerPositions(omega_deg=40.0, alignment_y_mm=0.4), background, noise_seed=21)
    assert segmenter.track(moved.image, [first, second]).labelled_region is None
    untracked = NetworkSegmenter(segmenter.model, stride=segmenter.stride, tracking=False)
    assert untracked.track(views[1].image, [first]).labelled_region is None
