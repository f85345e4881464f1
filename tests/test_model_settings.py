"""A model's inference settings are checked where they enter: its card, keyword overrides, the model
file itself and ``$MXSIGHT_MODELS_DIR``; each bad one is a named, one-line error."""

import json

import pytest

from mxsight.cli import console_main
from mxsight.notions import NOTIONS
from mxsight.vision.model_settings import ModelSettings
from mxsight.vision.model_files import MODELS_DIR_VARIABLE, SETTINGS, default_segmenter_kind, model_settings, models_directory
from mxsight.vision.network_segmenter import NetworkSegmenter

SHIPPED_CARD = json.loads((models_directory() / "default.json").read_text())
PROBABILITY = "must be a number strictly between 0 and 1"


def _card(folder, **changes):
    """The shipped card with ``changes``, written as ``folder``/default.json beside a stand-in model."""
    path = folder / "default.json"
    path.write_text(json.dumps({**SHIPPED_CARD, **changes}))
    (folder / "default.keras").write_bytes(b"not read: only the card is")
    return path


@pytest.mark.parametrize(
    "changes,problem",
    [
        ({"working_size_px": 0}, "working_size_px must be an integer from 64 to 4096, got 0"),
        ({"working_size_px": -64}, "working_size_px must be an integer from 64 to 4096, got -64"),
        ({"working_size_px": 5}, "working_size_px must be an integer from 64 to 4096, got 5"),
        ({"working_size_px": "320"}, "working_size_px must be an integer from 64 to 4096, got '320'"),
        ({"working_size_px": 320.0}, "working_size_px must be an integer from 64 to 4096, got 320.0"),
        ({"refine": "no"}, "refine must be true or false, got 'no'"),
        ({"tracking": 1}, "tracking must be true or false, got 1"),
        ({"click_threshold": 5}, f"click_threshold {PROBABILITY}, got 5"),
        ({"threshold": 0}, f"threshold {PROBABILITY}, got 0"),
        ({"thresholds": {"ice": 1.5}}, f"thresholds['ice'] {PROBABILITY}, got 1.5"),
        ({"thresholds": {"icy": 0.5}}, f"thresholds names unknown notions ['icy'] (known: {', '.join(NOTIONS)})"),
        ({"version": 3}, "version must be a string, got 3"),
        ({"default_segmenter": "magic"}, "default_segmenter must be one of network, checked, classical, got 'magic'"),
    ],
)
def test_a_bad_setting_in_a_card_is_named_with_its_file_value_and_range(tmp_path, changes, problem):
    card = _card(tmp_path, **changes)
    with pytest.raises(ValueError) as error:
        model_settings(tmp_path / "default.keras")
    assert str(error.value) == f"{card}: {problem}"


def test_several_bad_settings_make_one_line(tmp_path):
    card = _card(tmp_path, working_size_px=0, refine="no")
    with pytest.raises(ValueError) as error:
        model_settings(tmp_path / "default.keras")
    assert str(error.value) == f"{card}: working_size_px must be an integer from 64 to 4096, got 0; refine must be true or false, got 'no'"


def test_a_card_that_is_no_json_object_is_named(tmp_path):
    (tmp_path / "m.json").write_text("[320]")
    with pytest.raises(ValueError, match=r"m\.json: the settings must be a JSON object, got \[320\]$"):
        model_settings(tmp_path / "m.keras")
    (tmp_path / "m.json").write_text("{working_size_px: 320}")
    with pytest.raises(ValueError, match=r"m\.json: not a readable JSON file \("):
        model_settings(tmp_path / "m.keras")


def test_the_default_segmenter_is_read_from_a_checked_card(tmp_path, monkeypatch):
    monkeypatch.setenv(MODELS_DIR_VARIABLE, str(tmp_path))
    card = _card(tmp_path, default_segmenter="magic")
    with pytest.raises(ValueError) as error:
        default_segmenter_kind()
    assert str(error.value) == f"{card}: default_segmenter must be one of network, checked, classical, got 'magic'"
    _card(tmp_path, working_size_px=0)  # any bad setting: the card is checked whole
    with pytest.raises(ValueError, match="working_size_px must be an integer from 64 to 4096, got 0"):
        default_segmenter_kind()
    _card(tmp_path, default_segmenter="classical")
    assert default_segmenter_kind() == "classical"


def test_the_shipped_card_loads_unchanged():
    settings = model_settings(models_directory() / "default.keras")
    assert settings == {key: SHIPPED_CARD[key] for key in (*SETTINGS, "version") if key in SHIPPED_CARD}
    assert settings["working_size_px"] == 320 and settings["refine"] is True and settings["version"] == "2026.12.07.1"
    assert ModelSettings.model_validate(SHIPPED_CARD).default_segmenter == "checked"


def test_keyword_overrides_are_checked_as_a_card_is(tmp_path):
    model = tmp_path / "m.keras"
    model.write_bytes(b"overrides are checked before the model is read")
    with pytest.raises(ValueError) as error:
        NetworkSegmenter.load(model, working_size_px=0, refine="no")
    assert str(error.value) == f"settings given for {model}: working_size_px must be an integer from 64 to 4096, got 0; refine must be true or false, got 'no'"


def test_a_corrupt_model_file_is_named_on_one_line(tmp_path):
    model = tmp_path / "bad.keras"
    model.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError) as error:
        NetworkSegmenter.load(model)
    assert str(error.value) == f"{model}: not a readable Keras model (not a zip archive, as .keras files are)"
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        NetworkSegmenter.load(tmp_path / "missing.keras")


def test_a_models_dir_that_is_missing_is_an_error(tmp_path, monkeypatch):
    monkeypatch.delenv(MODELS_DIR_VARIABLE, raising=False)
    shipped = models_directory()
    missing = tmp_path / "no-such-folder"
    monkeypatch.setenv(MODELS_DIR_VARIABLE, str(missing))
    with pytest.raises(FileNotFoundError) as error:
        models_directory()
    assert MODELS_DIR_VARIABLE in str(error.value) and str(missing) in str(error.value)
    with pytest.raises(FileNotFoundError, match=MODELS_DIR_VARIABLE):
        default_segmenter_kind()
    monkeypatch.setenv(MODELS_DIR_VARIABLE, str(tmp_path))  # a folder with no promoted model: the shipped one
    assert models_directory() == shipped


def test_the_console_reports_a_bad_model_as_one_error_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MXSIGHT_TRACEBACK", raising=False)
    model = tmp_path / "bad.keras"
    model.write_bytes(b"\x00garbage")
    assert console_main(["model", "thresholds", str(model), "--data", str(tmp_path)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"mxsight: error: {model}: not a readable Keras model (not a zip archive, as .keras files are)"]
    card = _card(tmp_path, click_threshold=5)
    assert console_main(["model", "thresholds", str(tmp_path / "default.keras"), "--data", str(tmp_path)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"mxsight: error: {card}: click_threshold {PROBABILITY}, got 5"]
