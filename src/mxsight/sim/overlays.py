"""Graphics that beamline control software burns into the frames it saves: crosshairs, beam markers,
centring marks, scale bars and text. A segmenter must look through them, so training frames carry them
too; the labels are those of the scene behind them.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

OVERLAY_COLOURS = ((255, 0, 0), (0, 255, 0), (255, 255, 0), (0, 120, 255), (255, 255, 255), (255, 0, 255), (0, 0, 0))


def burn_overlays(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``image`` (rows, cols, 3 uint8) with 1-4 random overlays drawn in: a crosshair over the whole
    frame or a small cross at the beam, a circle or box marker, a scale bar with its length in µm,
    a line of status text."""
    rows, cols = image.shape[:2]
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    width = max(1, int(round(min(rows, cols) / 300 * rng.uniform(0.5, 2.0))))
    beam = (rng.uniform(0.3, 0.7) * cols, rng.uniform(0.3, 0.7) * rows)
    kinds = rng.choice(["crosshair", "marker", "scale_bar", "text"], size=int(rng.integers(1, 5)), replace=False)
    for kind in kinds:
        colour = OVERLAY_COLOURS[int(rng.integers(len(OVERLAY_COLOURS)))]
        if kind == "crosshair":
            _crosshair(draw, beam, (cols, rows), width, colour, full=bool(rng.uniform() < 0.5), arm=rng.uniform(0.02, 0.08) * cols)
        elif kind == "marker":
            centre = (beam[0] + rng.normal(0, 0.1 * cols), beam[1] + rng.normal(0, 0.1 * rows))
            radius = rng.uniform(0.01, 0.05) * cols
            box = [centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius]
            (draw.ellipse if rng.uniform() < 0.6 else draw.rectangle)(box, outline=colour, width=width)
            if rng.uniform() < 0.5:
                draw.line([box[0], box[1], box[2], box[3]], fill=colour, width=width)
                draw.line([box[0], box[3], box[2], box[1]], fill=colour, width=width)
        elif kind == "scale_bar":
            _scale_bar(draw, (cols, rows), width, colour, rng)
        else:
            corner = (rng.uniform(0.01, 0.1) * cols, rng.choice([rng.uniform(0.01, 0.05), rng.uniform(0.9, 0.95)]) * rows)
            text = f"{rng.choice(['omega', 'zoom', 'x', 'T'])} {rng.uniform(0, 360):.2f}  {int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d}"
            draw.text(corner, text, fill=colour, font_size=max(8, int(rows * rng.uniform(0.02, 0.05))))
    return np.asarray(canvas).copy()


def _crosshair(draw: ImageDraw.ImageDraw, centre, size, width: int, colour, *, full: bool, arm: float) -> None:
    x, y = centre
    cols, rows = size
    if full:
        draw.line([0, y, cols, y], fill=colour, width=width)
        draw.line([x, 0, x, rows], fill=colour, width=width)
    else:
        draw.line([x - arm, y, x + arm, y], fill=colour, width=width)
        draw.line([x, y - arm, x, y + arm], fill=colour, width=width)


def _scale_bar(draw: ImageDraw.ImageDraw, size, width: int, colour, rng: np.random.Generator) -> None:
    """An L-shaped or straight bar in a corner, labelled like '200 µm'."""
    cols, rows = size
    x0, y0 = rng.uniform(0.01, 0.05) * cols, rng.uniform(0.9, 0.98) * rows
    length = rng.uniform(0.08, 0.2) * cols
    draw.line([x0, y0, x0 + length, y0], fill=colour, width=width + 1)
    if rng.uniform() < 0.5:
        draw.line([x0, y0, x0, y0 - length], fill=colour, width=width + 1)
    label = f"{int(rng.choice([10, 20, 50, 100, 200, 500]))} µm"
    draw.text((x0 + 0.3 * length, y0 - max(10, 0.04 * rows)), label, fill=colour, font_size=max(8, int(rows * 0.03)))
