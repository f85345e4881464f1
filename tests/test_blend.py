"""``mxsight model blend``: a fine-tuned network averaged with the one it started from."""

import json

import numpy as np
import pytest

from mxsight.cli import console_main as run
from mxsight.training.blend import blend_weights
from mxsight.vision.network import NetworkConfig, build_model

TINY = NetworkConfig(widths=(4, 8, 8), groups=4, full_resolution_width=4)


def _saved(path, seed: int, config: NetworkConfig = TINY):
    import keras

    keras.utils.set_random_seed(seed)
    model = build_model(config)
    model.save(path)
    return model


def test_the_blend_holds_the_weighted_mean_of_both_networks_and_says_where_it_came_from(tmp_path, capsys):
    import keras

    original, tuned = _saved(tmp_path / "original.keras", 1), _saved(tmp_path / "tuned.keras", 2)
    out = tmp_path / "blend" / "blend.keras"
    assert run(["model", "blend", str(tmp_path / "original.keras"), str(tmp_path / "tuned.keras"), "--weight", "0.25", "--out", str(out)]) == 0
    assert "mxsight model thresholds" in capsys.readouterr().out
    blended = keras.saving.load_model(out, compile=False)
    trainable = 0
    for a, b, c in zip(original.get_weights(), tuned.get_weights(), blended.get_weights()):
        np.testing.assert_allclose(c, 0.75 * a + 0.25 * b, rtol=1e-6, atol=1e-7)
        trainable += int(not np.array_equal(a, b))
    assert trainable > 10  # the two seeds gave different networks, so the mean is a real test
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["blend"] == {"original": str((tmp_path / "original.keras").resolve()), "fine_tuned": str((tmp_path / "tuned.keras").resolve()), "weight": 0.25}
    image = np.random.default_rng(0).random((1, 64, 80, 3), dtype=np.float32)
    assert np.all(np.isfinite(blended.predict(image, verbose=0)))


def test_networks_of_other_architectures_or_weights_out_of_range_are_refused_in_one_line(tmp_path, capsys):
    _saved(tmp_path / "a.keras", 1)
    _saved(tmp_path / "b.keras", 2, NetworkConfig(widths=(4, 8, 16), groups=4, full_resolution_width=4))
    assert run(["model", "blend", str(tmp_path / "a.keras"), str(tmp_path / "b.keras"), "--weight", "0.5", "--out", str(tmp_path / "c.keras")]) != 0
    error = capsys.readouterr().err.strip()
    assert error.startswith("mxsight: error: the two networks differ in architecture") and "\n" not in error
    assert not (tmp_path / "c.keras").exists()
    with pytest.raises(ValueError, match="weight must be between 0"):
        blend_weights([np.zeros(2)], [np.ones(2)], 1.5)
    assert run(["model", "blend", str(tmp_path / "a.keras"), str(tmp_path / "missing.keras"), "--weight", "0.5", "--out", str(tmp_path / "c.keras")]) != 0
    assert "no model file at" in capsys.readouterr().err
