"""Masks to labelme files: a segmenter's masks as polygons an operator corrects in labelme.

Each notion's mask becomes one polygon per connected region (its outer outline: labelme polygons have
no holes, and the notions are nested regions, so a loop's polygon encloses its inside). The image is
referenced by ``imagePath`` relative to the JSON file, never embedded, so a label file carries no image
data and can live apart from images whose licences keep them out of a repository. Reading the file
back with :func:`mxsight.training.labelme.read_labelme` gives the masks again, to within the polygon
tolerance along their outlines.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from skimage.measure import approximate_polygon, find_contours, label

from mxsight.notions import NOTIONS
from mxsight.training.labelme import PROVENANCE_KEY

LABELME_VERSION = "5.4.1"
EXPORTED_NOTIONS = tuple(n for n in NOTIONS if n != "foreground")


def mask_polygons(mask: np.ndarray, *, tolerance_px: float = 0.75, min_area_px: int = 12) -> list[np.ndarray]:
    """Outer outlines of ``mask``'s connected regions as polygons of (x, y) image coordinates.

    Parameters
    ----------
    mask : (rows, cols) bool array.
    tolerance_px : how far, in pixels, the simplified outline may stray from the traced one.
    min_area_px : regions smaller than this (in pixels) are left out (specks a labeller would not draw).

    Returns
    -------
    One (N, 2) float array per region, N >= 3, columns x then y (labelme's order), in pixels.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {mask.shape}")
    regions = label(mask, connectivity=2)
    polygons = []
    for index in range(1, int(regions.max()) + 1):
        region = regions == index
        if np.count_nonzero(region) < min_area_px:
            continue
        padded = np.pad(region, 1)
        contours = find_contours(padded.astype(np.float32), 0.5)
        outline = max(contours, key=len) - 1.0  # the longest contour of a region is its outer outline
        simplified = approximate_polygon(outline, tolerance=tolerance_px)[:-1]
        if len(simplified) >= 3:
            polygons.append(np.column_stack([simplified[:, 1], simplified[:, 0]]))
    return polygons


def labelme_document(
    masks: Mapping[str, np.ndarray],
    image_path: str,
    *,
    click_px: tuple[float, float] | None = None,
    description: str = "",
    flags: Mapping[str, bool] | None = None,
    tolerance_px: float = 0.75,
) -> dict:
    """A labelme 5 document for ``masks`` (notion -> mask), the image named by ``image_path``.

    ``foreground`` is exported as ``not_background`` only where no other notion covers it; ``click_px``
    (row, col) becomes a ``user_click`` point.
    """
    shape = next(iter(masks.values())).shape
    covered = np.zeros(shape, dtype=bool)
    shapes = []
    for notion in EXPORTED_NOTIONS:
        mask = masks.get(notion)
        if mask is None or not mask.any():
            continue
        covered |= mask
        shapes += [_polygon_shape(notion, points, description) for points in mask_polygons(mask, tolerance_px=tolerance_px)]
    if "foreground" in masks:
        rest = np.asarray(masks["foreground"], dtype=bool) & ~covered
        shapes += [_polygon_shape("not_background", p, description) for p in mask_polygons(rest, tolerance_px=tolerance_px)]
    if click_px is not None:
        row, col = click_px
        shapes.append({"label": "user_click", "points": [[float(col), float(row)]], "group_id": None,
                       "description": description, "shape_type": "point", "flags": {}})
    return {
        "version": LABELME_VERSION,
        "flags": dict(flags or {}),
        "shapes": shapes,
        "imagePath": image_path,
        "imageData": None,
        "imageHeight": int(shape[0]),
        "imageWidth": int(shape[1]),
    }


def write_labelme(path: Path | str, masks: Mapping[str, np.ndarray], image: Path | str, **options) -> Path:
    """Write ``masks`` as a labelme file at ``path`` referencing ``image`` by a path relative to it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    relative = os.path.relpath(Path(image).resolve(), path.parent.resolve())
    path.write_text(json.dumps(labelme_document(masks, relative, **options), indent=1) + "\n")
    return path


def write_labelme_draft(folder: Path | str, name: str, image: np.ndarray, masks: Mapping[str, np.ndarray],
                        *, click_px: tuple[float, float] | None, provenance: Mapping) -> Path:
    """A frame to label as ``folder/name.png`` and a labelme draft ``folder/name.json`` whose polygons
    are ``masks`` (a segmenter's, for an operator to correct) and whose ``mxsight`` entry keeps the
    frame's provenance (labelme keeps unknown keys when it saves), so the corrected file imports
    back with it (``mxsight dataset import-labelme``)."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    image_path = folder / f"{name}.png"
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(image_path)
    document = labelme_document(masks, image_path.name, click_px=click_px, description="draft: the network's masks, to correct")
    document[PROVENANCE_KEY] = {key: value for key, value in provenance.items() if key != "labelled"}
    path = folder / f"{name}.json"
    path.write_text(json.dumps(document, indent=1, default=_plain) + "\n")
    return path


def _plain(value):
    """JSON for numpy scalars in provenance."""
    return value.item() if hasattr(value, "item") else str(value)


def _polygon_shape(notion: str, points: np.ndarray, description: str) -> dict:
    return {
        "label": notion,
        "points": np.round(points, 2).tolist(),
        "group_id": None,
        "description": description,
        "shape_type": "polygon",
        "flags": {},
    }
