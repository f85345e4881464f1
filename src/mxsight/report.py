"""A PNG report of one recorded alignment, drawn from what Tiled serves back (not from memory)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mxsight.geometry.slab import slab_displacement  # noqa: E402
from mxsight.notions import unpack_masks  # noqa: E402
from mxsight.storage.passes import pass_slices  # noqa: E402
from mxsight.vision.overlay import overlay_masks  # noqa: E402

def _fitted_curve(results, index: int, omega_deg: np.ndarray, perpendicular_sign: float) -> np.ndarray | None:
    """The recorded fit of sweep ``index`` (circle, or circle plus the slab's refraction term, whose
    image sign is minus the geometry's perpendicular sign) at ``omega_deg``; None when it has no fit."""
    value = {key: np.asarray(results[f"results_{key}"].read())[index] for key in ("model", "c_px", "r_px", "alpha_deg")}
    if not np.isfinite(value["c_px"]):
        return None
    curve = value["c_px"] + value["r_px"] * np.cos(np.deg2rad(omega_deg - value["alpha_deg"]))
    if value["model"] == "slab":
        slab = {key: float(np.asarray(results[f"results_slab_{key}"].read())[index]) for key in ("beta_deg", "d_plus", "d_minus", "refractive_index")}
        curve = curve - perpendicular_sign * slab_displacement(omega_deg, slab["beta_deg"], slab["d_plus"], slab["d_minus"], slab["refractive_index"])
    return curve


def write_report(run, path: Path | str, *, image_key: str = "oav_image", n_frames: int = 4) -> Path:
    """:func:`alignment_figure` of a Tiled run, saved as a PNG."""
    path = Path(path)
    figure = alignment_figure(run, image_key=image_key, n_frames=n_frames)
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def alignment_figure(run, *, image_key: str = "oav_image", n_frames: int = 4):
    """Frames of the last sweep with their mask overlays, and each sweep's target track with the fitted
    movement model (circle or slab, as recorded), for an ``auto_centre`` run read from Tiled."""
    primary, predictions = run["primary"], run["predictions"]
    omega = np.asarray(predictions["predictions_omega_deg"].read())
    present = np.asarray(predictions["predictions_present"].read()).astype(bool)
    sweeps = pass_slices(run, len(omega)) or [slice(0, len(omega))]
    results = run["results"] if "results" in run else None
    targets = list(results["results_target"].read()) if results is not None else ["loop"] * len(sweeps)
    models = list(results["results_model"].read()) if results is not None else ["circle"] * len(sweeps)
    outcomes = list(results["results_outcome"].read()) if results is not None else ["moved"] * len(sweeps)
    last = sweeps[-1]
    picks = np.linspace(last.start, last.stop - 1, n_frames).round().astype(int)

    figure = plt.figure(figsize=(4 * n_frames, 7.5), layout="constrained")
    grid = figure.add_gridspec(2, n_frames, height_ratios=[1, 1])
    for column, index in enumerate(picks):
        axis = figure.add_subplot(grid[0, column])
        frame = np.asarray(primary[image_key][int(index)])
        masks = np.asarray(predictions["predictions_masks"][int(index)])
        axis.imshow(overlay_masks(frame, unpack_masks(masks)))
        axis.set_title(f"last sweep, omega {omega[index]:.0f} deg", fontsize=9)
        axis.axis("off")
    axis = figure.add_subplot(grid[1, :])
    dense = np.linspace(0, 360, 361)
    vertical = run.metadata["start"].get("spindle") == "vertical"
    coordinate = "col" if vertical else "row"
    for number, (chunk, target, model, result) in enumerate(zip(sweeps, targets, models, outcomes, strict=False), start=1):
        if chunk.stop <= chunk.start:
            continue  # a coarse sweep found not needed took no frames
        key = f"predictions_{'crystal' if target == 'crystal' else 'target'}_{coordinate}_px"
        values = np.asarray(predictions[key].read())[chunk]
        ok = present[chunk] & np.isfinite(values)
        state = "" if result == "moved" else f" ({result})"
        line = axis.plot(omega[chunk][ok], values[ok], "o", label=f"sweep {number}{state}: {target or 'loop'} {coordinate}")[0]
        sign = float(run.metadata["start"].get("perpendicular_sign", 1.0))
        curve = _fitted_curve(results, number - 1, dense, sign) if results is not None else None
        if curve is not None:
            axis.plot(dense, curve, "-", color=line.get_color(), label=f"sweep {number}: {model} model")
    beam = run.metadata["start"]["beam_position_px"][1 if vertical else 0]
    axis.axhline(beam, color="k", linestyle=":", label=f"beam {coordinate} (starting zoom)")
    axis.set_xlabel("omega (deg)")
    axis.set_ylabel(f"{coordinate} (px)")
    axis.invert_yaxis()
    axis.legend(fontsize=8)
    start = run.metadata["start"]
    figure.suptitle(f"mxsight auto_centre - sample {start['sample_id']} - zoom {start['zoom']} ({start['pixel_size_um']} um/px) - run {start['uid'][:8]}")
    return figure


def raster_figure(run, *, image_key: str = "oav_image"):
    """The face-on and edge-on frames of a ``raster_extents`` run with their masks and raster grids, and
    the projected area against omega with its fit, read from Tiled."""
    primary, predictions, results = run["primary"], run["predictions"], run["results"]
    omega = np.asarray(predictions["predictions_omega_deg"].read())
    area = np.asarray(predictions["predictions_loop_area_px"].read())
    record = {key.removeprefix("results_"): np.asarray(results[key].read())[0] for key in results.keys()}
    start = run.metadata["start"]
    vertical = start.get("spindle") == "vertical"
    figure = plt.figure(figsize=(12, 8), layout="constrained")
    grid = figure.add_gridspec(2, 2)
    for column, (name, index) in enumerate((("face", len(omega) - 2), ("edge", len(omega) - 1))):
        axis = figure.add_subplot(grid[0, column])
        frame = np.asarray(primary[image_key][index])
        axis.imshow(overlay_masks(frame, unpack_masks(np.asarray(predictions["predictions_masks"][index]))))
        if record["outcome"] == "found":
            _draw_grid(axis, record, name, start, vertical)
        axis.set_title(f"{name}-on, omega {omega[index]:.1f} deg", fontsize=9)
        axis.axis("off")
    axis = figure.add_subplot(grid[1, :])
    sweep = slice(0, len(omega) - 2)
    axis.plot(omega[sweep], area[sweep], "o", label="loop area")
    if record["outcome"] == "found" and record["area_determined"]:
        dense = np.linspace(0, 360, 361)
        fitted = record["area_mean_px"] + record["area_amplitude_px"] * np.cos(np.deg2rad(2 * (dense - record["area_face_on_deg"])))
        axis.plot(dense, fitted, "-", label=f"fit: face-on {record['area_face_on_deg']:.1f} deg")
    axis.set_xlabel("omega (deg)")
    axis.set_ylabel("area (px)")
    axis.legend(fontsize=8)
    figure.suptitle(f"mxsight raster_extents - sample {start['sample_id']} - run {start['uid'][:8]}")
    return figure


def _draw_grid(axis, record: dict, name: str, start: dict, vertical: bool) -> None:
    """The grid's cells as rectangles on the frame (lab X along the spindle, Z up the image)."""
    from matplotlib.patches import Rectangle

    pixel_mm = start["pixel_size_um"] / 1000.0
    beam_row, beam_col = start["beam_position_px"]
    along_mm, across_mm = record[f"{name}_centre_along_mm"], record[f"{name}_centre_across_mm"]
    step_along, step_across = record[f"{name}_step_along_um"] / 1000.0, record[f"{name}_step_across_um"] / 1000.0
    n_along, n_across = int(record[f"{name}_n_along"]), int(record[f"{name}_n_across"])
    for i in range(n_along):
        for j in range(n_across):
            x = along_mm + (i - (n_along - 1) / 2) * step_along
            z = across_mm + (j - (n_across - 1) / 2) * step_across
            col, row = beam_col + x / pixel_mm, beam_row - z / pixel_mm
            width, height = step_along / pixel_mm, step_across / pixel_mm
            if vertical:
                col, row, width, height = beam_col - z / pixel_mm, beam_row + x / pixel_mm, height, width
            axis.add_patch(Rectangle((col - width / 2, row - height / 2), width, height, fill=False, linewidth=0.4, edgecolor="yellow"))
