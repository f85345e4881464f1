"""Pictures of a real-frames evaluation: what each segmenter labelled, beside the truth.

A table says how far a segmenter is from the truth; the picture says why (a liquid-filled loop taken
for the pin, a vignetted corner taken for a sample). For each labelled frame one PNG: the frame with
its labels, then each segmenter's masks, captioned with its name and, where its self-check failed,
"unsure" and the reason; and one sheet of the empty fields on which some segmenter reported a sample
or was unsure. The frames are the facility's: write them where their licence allows (outside a
public repository).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from mxsight.vision.overlay import OVERLAY_COLOURS, overlay_masks
from mxsight.vision.prediction import Prediction

TILE_PX = (300, 400)  # rows, cols of each picture
CAPTION_PX = 16
LEGEND_PX = 18
EMPTY_FIELDS_SHEET = "empty-fields-reported.png"


def _file_name(frame: str) -> str:
    """A file name for a frame's path (its folders joined, odd characters replaced)."""
    stem = Path(frame).with_suffix("").as_posix().replace("/", "__")
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stem) + ".png"


def _tile(image: np.ndarray, masks: Mapping[str, np.ndarray] | None, caption: str) -> Image.Image:
    """The frame (its masks tinted when given) at ``TILE_PX`` with a caption above it."""
    picture = image if masks is None else np.asarray(np.clip(overlay_masks(image, dict(masks)), 0.0, 1.0) * 255, np.uint8)
    tile = Image.new("RGB", (TILE_PX[1], TILE_PX[0] + CAPTION_PX), "black")
    tile.paste(Image.fromarray(picture).resize((TILE_PX[1], TILE_PX[0]), Image.Resampling.BILINEAR), (0, CAPTION_PX))
    ImageDraw.Draw(tile).text((4, 2), caption[:70], fill=(255, 255, 0))
    return tile


def _caption(name: str, prediction: Prediction) -> str:
    if prediction.unsure_reason:
        return f"{name}: UNSURE, {prediction.unsure_reason}"
    return f"{name}: {'sample' if prediction.present else 'no sample'}"


def _row(tiles: list[Image.Image], legend: bool) -> Image.Image:
    row = Image.new("RGB", (TILE_PX[1] * len(tiles), tiles[0].height + (LEGEND_PX if legend else 0)), "black")
    for index, tile in enumerate(tiles):
        row.paste(tile, (TILE_PX[1] * index, 0))
    if legend:
        draw, x = ImageDraw.Draw(row), 4
        for notion, colour in OVERLAY_COLOURS.items():
            draw.rectangle((x, tiles[0].height + 4, x + 10, tiles[0].height + 14), fill=tuple(int(255 * c) for c in colour))
            draw.text((x + 14, tiles[0].height + 3), notion, fill="white")
            x += 22 + 7 * len(notion)
    return row


class EvaluationPictures:
    """Writes the pictures of one evaluation into ``folder`` as the frames are scored."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._fields: list[Image.Image] = []
        self.written: list[Path] = []

    def frame(self, frame: str, image: np.ndarray, truth: Mapping[str, np.ndarray], predictions: Mapping[str, Prediction]) -> Path:
        """One labelled frame: the truth, then each segmenter's masks."""
        tiles = [_tile(image, truth, f"truth: {Path(frame).name}")]
        tiles += [_tile(image, p.masks, _caption(name, p)) for name, p in predictions.items()]
        path = self.folder / _file_name(frame)
        _row(tiles, legend=True).save(path)
        self.written.append(path)
        return path

    def empty_field(self, field: str, image: np.ndarray, predictions: Mapping[str, Prediction]) -> None:
        """An empty field, kept for the sheet when some segmenter reported a sample there or was unsure."""
        if any(p.present or p.unsure_reason for p in predictions.values()):
            tiles = [_tile(image, None, Path(field).name)] + [_tile(image, p.masks, _caption(name, p)) for name, p in predictions.items()]
            self._fields.append(_row(tiles, legend=False))

    def close(self) -> list[Path]:
        """Write the empty-field sheet (when any field was kept) and return every picture written."""
        if self._fields:
            sheet = Image.new("RGB", (max(r.width for r in self._fields), sum(r.height for r in self._fields)), "black")
            y = 0
            for row in self._fields:
                sheet.paste(row, (0, y))
                y += row.height
            path = self.folder / EMPTY_FIELDS_SHEET
            sheet.save(path)
            self.written.append(path)
        return list(self.written)
