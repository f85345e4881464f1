"""A contact sheet of a dataset: each image beside its masks, so a person can look at the labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from mxsight.training.dataset_format import LabelledDataset
from mxsight.vision.overlay import overlay_masks

TILE_PX = (192, 256)


def _tile(array: np.ndarray) -> Image.Image:
    image = Image.fromarray(array if array.dtype == np.uint8 else (np.clip(array, 0, 1) * 255).astype(np.uint8))
    return image.resize((TILE_PX[1], TILE_PX[0]), Image.Resampling.BILINEAR)


def contact_sheet(dataset_dir: Path | str, out: Path | str, *, count: int = 12, columns: int = 3) -> Path:
    """Write ``count`` examples (evenly spread through the dataset) as image / overlay pairs."""
    dataset = LabelledDataset(dataset_dir)
    if len(dataset) == 0:
        raise ValueError(f"{dataset_dir} holds no images")
    picks = np.unique(np.linspace(0, len(dataset) - 1, min(count, len(dataset))).round().astype(int))
    rows = int(np.ceil(len(picks) / columns))
    cell_w, cell_h = 2 * TILE_PX[1] + 8, TILE_PX[0] + 20
    sheet = Image.new("RGB", (columns * cell_w, rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    for slot, position in enumerate(picks):
        example = dataset[int(position)]
        x, y = (slot % columns) * cell_w, (slot // columns) * cell_h
        overlay = overlay_masks(example.image, example.masks)
        sheet.paste(_tile(example.image), (x, y + 18))
        overlay_tile = _tile(overlay)
        if example.click_px is not None:
            scale_r = TILE_PX[0] / example.image.shape[0]
            scale_c = TILE_PX[1] / example.image.shape[1]
            r, c = example.click_px[0] * scale_r, example.click_px[1] * scale_c
            ImageDraw.Draw(overlay_tile).ellipse((c - 4, r - 4, c + 4, r + 4), outline="red", width=2)
        sheet.paste(overlay_tile, (x + TILE_PX[1] + 4, y + 18))
        label = example.metadata.get("source") or f"seed {example.metadata.get('seed')}"
        draw.text((x + 2, y + 2), f"#{position} {label} zoom {example.metadata.get('zoom', '?')}", fill="black")
    out = Path(out)
    sheet.save(out)
    return out
