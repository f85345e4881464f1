"""Real labelled frames and empty fields, and which of them are for evaluation only.

``data/real/splits.toml`` (in the repository) names every real frame and every camera set-up of
empty fields by its path under the shared data folder, in two splits: ``evaluation`` (never trained
on, never used to choose anything but through the whole split's evaluation) and ``training``. A
labelled frame is either a labelme file in the shared folder itself, or an image there whose labels
the project made: ``data/real/labels/<image path without suffix>.json``, a labelme file with no image
data that names its image by a relative path. The images stay in the shared folder, under their own
licences; only labels live in the repository.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from mxsight.training.dataset_format import Example
from mxsight.training.labelme import read_labelme

Split = Literal["evaluation", "training"]
SPLITS: tuple[Split, ...] = ("evaluation", "training")
REPOSITORY = Path(__file__).resolve().parents[3]
REAL_DIR = REPOSITORY / "data" / "real"
SPLITS_FILE = REAL_DIR / "splits.toml"
LABELS_DIR = REAL_DIR / "labels"
SHARED_VARIABLE = "MXSIGHT_SHARED_DATA"


class RealDataMissing(FileNotFoundError):
    """The shared data folder, or a frame the splits name, is not on this machine."""


@dataclass(frozen=True)
class RealSplits:
    """Paths under the shared data folder: labelled frames and empty-field set-ups per split."""

    labelled: dict[str, tuple[str, ...]]
    empty_field_setups: dict[str, tuple[str, ...]]

    @classmethod
    def load(cls, path: Path = SPLITS_FILE) -> "RealSplits":
        if not Path(path).is_file():
            raise FileNotFoundError(f"no splits file at {path}")
        document = tomllib.loads(Path(path).read_text())
        for split in SPLITS:
            if split not in document:
                raise ValueError(f"{path}: no [{split}] table")
        labelled = {s: tuple(document[s].get("labelled", [])) for s in SPLITS}
        setups = {s: tuple(document[s].get("empty_field_setups", [])) for s in SPLITS}
        for kind, entries in (("labelled", labelled), ("empty_field_setups", setups)):
            both = set(entries["evaluation"]) & set(entries["training"])
            if both:
                raise ValueError(f"{path}: {kind} in both splits: {sorted(both)}")
        return cls(labelled, setups)

    def split_of_setup(self, field_path: str) -> Split | None:
        """The split an empty field belongs to (by its set-up: the path before ``_zoom_``), or None."""
        setup = field_path.split("_zoom_")[0]
        for split in SPLITS:
            if setup in self.empty_field_setups[split]:
                return split
        return None


def shared_data_root(start: Path | None = None) -> Path | None:
    """The shared ``data`` folder: ``$MXSIGHT_SHARED_DATA`` when set (that folder or its parent of
    ``soleil_px2``), else ``shared/data`` beside the repository or a parent of ``start``."""
    env = os.environ.get(SHARED_VARIABLE)
    if env:
        candidates = [Path(env), Path(env).parent]
    else:
        here = (start or REPOSITORY).resolve()
        candidates = [parent / "shared" / "data" for parent in (here, *here.parents)]
    for candidate in candidates:
        if (candidate / "soleil_px2").is_dir() or (candidate / "other_facilities").is_dir():
            return candidate
    return None


def _require_root(root: Path | None) -> Path:
    root = root or shared_data_root()
    if root is None:
        raise RealDataMissing(f"the shared real data (../shared/data beside the repository, or ${SHARED_VARIABLE}) is not on this machine")
    return root


def label_file(entry: str, root: Path, labels_dir: Path | None = LABELS_DIR) -> Path:
    """The labelme file of a labelled frame named in the splits: the entry itself when it is one,
    else that image's labels in ``labels_dir`` (the project's ``data/real/labels``), or, with no
    ``labels_dir`` (a facility's own splits), the labelme file beside the image, where labelme saves it."""
    if entry.endswith(".json"):
        return root / entry
    return (labels_dir if labels_dir is not None else root) / Path(entry).with_suffix(".json")


def real_examples(split: Split = "evaluation", *, root: Path | None = None, splits_file: Path = SPLITS_FILE) -> Iterator[Example]:
    """The labelled real frames of ``split``, each with ``metadata["real_path"]`` (its path in the
    splits) and ``metadata["facility"]`` (the first folder of that path below the shared root).
    ``splits_file`` names other frames (a facility's own, their paths and labels under ``root``)."""
    root = _require_root(root)
    labels_dir = LABELS_DIR if Path(splits_file) == SPLITS_FILE else None
    for entry in RealSplits.load(splits_file).labelled[split]:
        path = label_file(entry, root, labels_dir)
        if not path.exists():
            raise RealDataMissing(f"labels of {entry} not found at {path}")
        example = read_labelme(path)
        example.metadata.update({"real_path": entry, "facility": _facility(entry), "split": split})
        yield example


def _facility(entry: str) -> str:
    parts = Path(entry).parts
    return parts[1] if parts[0] == "other_facilities" else parts[0]


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")


def empty_field_paths(split: Split = "evaluation", *, root: Path | None = None, splits_file: Path = SPLITS_FILE) -> list[Path]:
    """Every empty-field image of the camera set-ups of ``split``: a set-up is a file-name prefix
    (``<set-up>_zoom_<level>...``) or a folder of images."""
    root = _require_root(root)
    splits = RealSplits.load(splits_file)
    paths = []
    for setup in splits.empty_field_setups[split]:
        if (root / setup).is_dir():
            paths += sorted(p for p in (root / setup).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            continue
        folder = root / Path(setup).parent
        paths += sorted(p for p in folder.glob(f"{Path(setup).name}_zoom_*") if splits.split_of_setup(str(p.relative_to(root))) == split)
    if not paths:
        raise RealDataMissing(f"no empty fields of the {split} split under {root}")
    return paths


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))
