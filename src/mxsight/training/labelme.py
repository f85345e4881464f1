"""Import of labelme annotations (JSON with polygons and points) into the dataset format.

Polygon, rectangle and circle shapes labelled with a notion become that notion's mask;
``not_background`` adds to the foreground only; ``background`` marks background (an image labelled
``background`` alone has an empty foreground); a ``user_click`` point is the click target. A draft
exported from a recorded run (:func:`mxsight.training.labelme_export.write_labelme_draft`) keeps its
provenance under the ``mxsight`` key, which the imported example's metadata takes back. The image is
the embedded ``imageData`` or the file ``imagePath`` names beside the JSON. Unknown labels and shape
types are counted and reported, never silently dropped; a malformed file is reported with its name and
problem while the others are still converted.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.draw import disk, polygon

from mxsight.notions import NOTIONS
from mxsight.training.dataset_format import DatasetWriter, Example

PROVENANCE_KEY = "mxsight"  # a draft's provenance (run uid, frame, sample, model version), kept by labelme

FOREGROUND_ONLY = "not_background"
BACKGROUND = "background"
CLICK = "user_click"
AREA_SHAPES = ("polygon", "rectangle", "circle")


class LabelmeError(ValueError):
    """A labelme file that cannot be converted; the message names the file and the problem."""


@dataclass
class ImportReport:
    converted: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unknown_labels: Counter = field(default_factory=Counter)
    unsupported_shapes: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        lines = [f"converted {len(self.converted)} file(s), {len(self.errors)} error(s)"]
        lines += [f"  error: {error}" for error in self.errors]
        if self.unknown_labels:
            lines.append("  unknown labels (not converted): " + ", ".join(f"{k} x{v}" for k, v in sorted(self.unknown_labels.items())))
        if self.unsupported_shapes:
            lines.append("  unsupported shape types (not converted): " + ", ".join(f"{k} x{v}" for k, v in sorted(self.unsupported_shapes.items())))
        return "\n".join(lines)


def _load_image(document: dict, path: Path) -> np.ndarray:
    if document.get("imageData"):
        try:
            data = base64.b64decode(document["imageData"], validate=False)
            with Image.open(io.BytesIO(data)) as image:
                return np.asarray(image.convert("RGB"))
        except Exception as error:
            raise LabelmeError(f"{path.name}: imageData cannot be decoded as an image ({error})") from error
    image_path = document.get("imagePath")
    if not image_path:
        raise LabelmeError(f"{path.name}: neither imageData nor imagePath is given")
    candidate = path.parent / image_path
    if not candidate.exists():
        candidate = path.parent / Path(image_path).name
    if not candidate.exists():
        raise LabelmeError(f"{path.name}: image {image_path!r} not found beside the JSON file")
    with Image.open(candidate) as image:
        return np.asarray(image.convert("RGB"))


def _area_mask(shape: dict, size: tuple[int, int], path: Path) -> np.ndarray:
    points = np.asarray(shape.get("points", []), dtype=float)
    kind = shape.get("shape_type", "polygon")
    mask = np.zeros(size, dtype=bool)
    if points.ndim != 2 or points.shape[1] != 2:
        raise LabelmeError(f"{path.name}: shape {shape.get('label')!r} has malformed points")
    if kind == "polygon":
        if len(points) < 3:
            raise LabelmeError(f"{path.name}: polygon {shape.get('label')!r} has {len(points)} points, at least 3 are needed")
        rr, cc = polygon(points[:, 1], points[:, 0], shape=size)
    elif kind == "rectangle":
        (x0, y0), (x1, y1) = points[:2]
        rr, cc = polygon([y0, y0, y1, y1], [x0, x1, x1, x0], shape=size)
    else:
        (cx, cy), (ex, ey) = points[:2]
        rr, cc = disk((cy, cx), float(np.hypot(ex - cx, ey - cy)), shape=size)
    mask[rr, cc] = True
    return mask


def _metadata_from_name(name: str) -> dict:
    metadata: dict = {}
    if match := re.search(r"zoom_(\d+)", name):
        metadata["zoom"] = int(match.group(1))
    if match := re.search(r"omega_([-\d.]+?)_", name):
        metadata["omega_deg"] = float(match.group(1))
    if match := re.search(r"_y_(\d+)_x_(\d+)", name):
        metadata["click_in_name_px"] = [float(match.group(1)), float(match.group(2))]
    return metadata


def read_labelme(path: Path | str, report: ImportReport | None = None) -> Example:
    """One labelme file as an :class:`Example`; raises :class:`LabelmeError` naming the problem."""
    path = Path(path)
    report = report if report is not None else ImportReport()
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LabelmeError(f"{path.name}: not a readable JSON file ({error})") from error
    if not isinstance(document, dict) or not isinstance(document.get("shapes"), list):
        raise LabelmeError(f"{path.name}: no 'shapes' list; not a labelme file")
    image = _load_image(document, path)
    size = image.shape[:2]
    masks = {notion: np.zeros(size, dtype=bool) for notion in NOTIONS}
    extra_foreground = np.zeros(size, dtype=bool)
    click = None
    for shape in document["shapes"]:
        label, kind = shape.get("label"), shape.get("shape_type", "polygon")
        if label == CLICK and kind == "point":
            x, y = shape["points"][0]
            click = (float(y), float(x))
        elif kind not in AREA_SHAPES:
            report.unsupported_shapes[f"{label}:{kind}"] += 1
        elif label == BACKGROUND:
            continue
        elif label == FOREGROUND_ONLY:
            extra_foreground |= _area_mask(shape, size, path)
        elif label in NOTIONS and label != "foreground":
            masks[label] |= _area_mask(shape, size, path)
        else:
            report.unknown_labels[str(label)] += 1
    masks["foreground"] = extra_foreground | np.logical_or.reduce([m for n, m in masks.items() if n != "foreground"])
    metadata = {"source": path.name, "origin": "labelme", **_metadata_from_name(path.stem)}
    provenance = document.get(PROVENANCE_KEY)
    if isinstance(provenance, dict):  # a draft exported from a recorded run, corrected by an operator
        metadata.update({**provenance, "source": path.name, "origin": "labelme", "draft_reason": provenance.get("reason", "")})
    if click is None and "click_in_name_px" in metadata:
        click = tuple(metadata["click_in_name_px"])
    return Example(image=image, masks=masks, click_px=click, metadata=metadata)


def import_labelme(source: Path | str, out: Path | str) -> ImportReport:
    """Convert every ``*.json`` under ``source`` into a dataset at ``out``; errors are collected."""
    source = Path(source)
    files = sorted(source.rglob("*.json"))
    if not files:
        raise FileNotFoundError(f"no labelme .json files under {source}")
    report = ImportReport()
    with DatasetWriter(out) as writer:
        for path in files:
            try:
                writer.add(read_labelme(path, report))
                report.converted.append(path.name)
            except LabelmeError as error:
                report.errors.append(str(error))
    return report
