"""A PNG report of one recorded alignment, drawn from what Tiled serves back (not from memory)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mxsight.geometry.circle import fit_circle  # noqa: E402
from mxsight.notions import unpack_masks  # noqa: E402
from mxsight.vision.overlay import overlay_masks  # noqa: E402

def write_report(run, path: Path | str, *, image_key: str = "oav_image", n_frames: int = 4) -> Path:
    """Frames with their mask overlays, and each pass's circle fit with the data, for a Tiled run."""
    path = Path(path)
    primary, predictions = run["primary"], run["predictions"]
    omega = np.asarray(predictions["predictions_omega_deg"].read())
    rows = np.asarray(predictions["predictions_target_row_px"].read())
    present = np.asarray(predictions["predictions_present"].read()).astype(bool)
    passes = int(run.metadata["start"].get("passes", 1))
    per_pass = len(omega) // max(passes, 1)
    picks = np.linspace(0, per_pass - 1, n_frames).round().astype(int)

    figure = plt.figure(figsize=(4 * n_frames, 7.5), layout="constrained")
    grid = figure.add_gridspec(2, n_frames, height_ratios=[1, 1])
    for column, index in enumerate(picks):
        axis = figure.add_subplot(grid[0, column])
        frame = np.asarray(primary[image_key][int(index)])
        masks = np.asarray(predictions["predictions_masks"][int(index)])
        axis.imshow(overlay_masks(frame, unpack_masks(masks)))
        axis.set_title(f"pass 1, omega {omega[index]:.0f} deg", fontsize=9)
        axis.axis("off")
    axis = figure.add_subplot(grid[1, :])
    dense = np.linspace(0, 360, 361)
    for pass_index in range(passes):
        chunk = slice(pass_index * per_pass, (pass_index + 1) * per_pass)
        ok = present[chunk]
        o, r = omega[chunk][ok], rows[chunk][ok]
        line = axis.plot(o, r, "o", label=f"pass {pass_index + 1}: loop centre row")[0]
        if ok.sum() >= 4:
            fit = fit_circle(o, r)
            axis.plot(dense, fit.predict(dense), "-", color=line.get_color(), label=f"pass {pass_index + 1}: circle fit, r = {fit.r:.1f} px")
    beam_row = run.metadata["start"]["beam_position_px"][0]
    axis.axhline(beam_row, color="k", linestyle=":", label="beam row")
    axis.set_xlabel("omega (deg)")
    axis.set_ylabel("row (px)")
    axis.invert_yaxis()
    axis.legend(fontsize=8)
    start = run.metadata["start"]
    figure.suptitle(f"mxsight auto_centre - sample {start['sample_id']} - zoom {start['zoom']} ({start['pixel_size_um']} um/px) - run {start['uid'][:8]}")
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path
