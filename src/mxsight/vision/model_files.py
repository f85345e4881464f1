"""Where models live and how their files are read: the shipped model's folder (or a site's, from
``$MXSIGHT_MODELS_DIR``), a model's inference settings from its card, and the Keras file itself, each
failure one line naming the file."""

from __future__ import annotations

import os
import zipfile
from importlib import resources
from pathlib import Path

from mxsight.vision.model_settings import ModelSettings, read_model_card, validate_settings

SHIPPED_MODEL = "default.keras"


MODELS_DIR_VARIABLE = "MXSIGHT_MODELS_DIR"  # a site's models folder (``mxsight model promote``), read before the package's


SETTINGS = ("working_size_px", "threshold", "thresholds", "click_threshold", "refine", "tracking")


def model_settings(path: Path | str) -> dict[str, object]:
    """Inference settings recorded beside a model (``<stem>.json``, the model card of a shipped or
    promoted model): version, working size, thresholds, click threshold, refinement, those the card
    gives, validated (:class:`~mxsight.vision.model_settings.ModelSettings`). Empty without a card."""
    settings = read_model_card(Path(path).with_suffix(".json"))
    if settings is None:
        return {}
    return settings.model_dump(include={*SETTINGS, "version"}, exclude_unset=True)


def checked_overrides(overrides: dict[str, object], path: Path) -> dict[str, object]:
    """Keyword overrides of a model's settings, the settings among them validated as a card's are;
    other keywords pass through to the constructor as given."""
    known = {key: value for key, value in overrides.items() if key in ModelSettings.model_fields}
    checked = validate_settings(known, f"settings given for {path}").model_dump(include=set(known), exclude_unset=True)
    return {**overrides, **checked}


def read_keras_model(path: Path):
    """The Keras model saved at ``path``; a ``ValueError`` of one line naming the file when keras
    cannot read it (keras reports a file that is no zip archive as "File not found")."""
    import keras

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:
        if path.is_dir():
            reason = "a folder, not a file"
        elif path.suffix == ".keras" and not zipfile.is_zipfile(path):
            reason = "not a zip archive, as .keras files are"
        else:
            lines = str(error).strip().splitlines()
            reason = f"{type(error).__name__}: {lines[0][:150] if lines else 'no message'}"
        raise ValueError(f"{path}: not a readable Keras model ({reason})") from error


def default_segmenter_kind(name: str = SHIPPED_MODEL) -> str:
    """Which segmenter ``Segmenter.default()`` builds on the default model, as its card records
    (``default_segmenter``, chosen on the held-out real frames when the model was promoted):
    "network", "checked" (the network checked frame by frame, the classical baseline where a frame
    fails) or "classical". "network" for a card that does not say. The card is validated whole."""
    settings = read_model_card((models_directory(name) / name).with_suffix(".json"))
    return "network" if settings is None else settings.default_segmenter


def models_directory(name: str = SHIPPED_MODEL) -> Path:
    """Where the default model is read from: ``$MXSIGHT_MODELS_DIR`` when it holds ``name`` (a model
    promoted at this site), else the folder shipped in the package. A ``$MXSIGHT_MODELS_DIR`` that is
    no folder is a ``FileNotFoundError``: a mistyped path must not quietly give the shipped model."""
    site = os.environ.get(MODELS_DIR_VARIABLE)
    if site and not Path(site).is_dir():
        raise FileNotFoundError(f"{MODELS_DIR_VARIABLE}={site}: no such folder (create it, or unset {MODELS_DIR_VARIABLE} for the shipped model)")
    if site and (Path(site) / name).exists():
        return Path(site)
    return Path(str(resources.files("mxsight") / "models"))
