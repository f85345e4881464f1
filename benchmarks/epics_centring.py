"""The centring benchmark over EPICS Channel Access against the same samples in process.

    python benchmarks/centring.py --epics --samples 100 --first-seed 8000 [--segmenter default|truth] [--hdf5-plugin]

``mxsight ioc`` serves the simulated beamline (configs/sim-epics) in a child process on a private
loopback port; for each seed the IOC mounts the simulator's random sample (``SIM:Seed``) and
``auto_centre`` runs through the EPICS devices (motor records, zoom, areaDetector camera), then on an
in-process simulated beamline holding the same sample at the same zoom. Success: the target within
10 um of the beam, measured on the simulator's truth at the motors' final positions. The two differ
only in how frames and moves travel (and in the camera noise drawn for each frame; neither camera has an
empty field recorded, so the self-check judges both the same way); the target
(issue 30) is the same success rate and residuals within 1 sample in 100. With ``--hdf5-plugin`` the
EPICS camera has its frames written by the IOC's HDF5 plugin (``[epics] hdf5_plugin``) instead of
reading them over Channel Access.
"""

from __future__ import annotations

import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np

from mxsight.devices.sim import make_sim_beamline
from mxsight.ioc.launch import load_served_beamline, served_beamline
from mxsight.plans.auto_centre import auto_centre
from mxsight.plans.errors import AlignmentError

CONFIG = Path(__file__).parents[1] / "configs" / "sim-epics"
MOTORS = ("omega", "centring_x", "centring_y", "alignment_y", "alignment_z")
SUCCESS_RADIUS_UM = 10.0


def _centre(RE, beamline, seed: int, segmenter, label: str) -> dict[str, object]:
    started = time.perf_counter()
    try:
        outcome, failure = RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id=f"{label}-{seed}", segmenter=segmenter)).plan_result, ""
    except AlignmentError as error:
        outcome, failure = error.outcome, type(error).__name__
    return {"outcome": outcome, "failure": failure, "seconds": time.perf_counter() - started}


def _truth_error_um(seed: int, positions: dict[str, float], target: str, zoom_level: int, directory: str) -> float:
    truth = make_sim_beamline(seed=seed, zoom_level=zoom_level, write_directory=directory)
    for name, value in positions.items():
        getattr(truth.goniometer, name).set(value)
    return truth.target_errors_um(target)["from_beam_um"]


def _record(seed: int, run: dict, positions: dict[str, float], zoom_level: int, directory: str) -> dict[str, object]:
    outcome = run["outcome"]
    centred = outcome is not None and outcome.solutions and not run["failure"]
    error_um = _truth_error_um(seed, positions, outcome.target, zoom_level, directory) if centred else float("nan")
    return {"seed": seed, "ok": bool(error_um < SUCCESS_RADIUS_UM), "error_um": error_um, "failure": run["failure"], "seconds": run["seconds"]}


def compare(seeds: list[int], make_segmenter, RE, hdf5_plugin: bool = False) -> dict[str, list[dict]]:
    """Per seed, ``auto_centre`` over Channel Access and in process; returns both lists of records."""
    records: dict[str, list[dict]] = {"over Channel Access": [], "in process": []}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "zoom.toml").write_text((CONFIG / "zoom.toml").read_text())
        path = folder / "beamline.toml"
        text = (CONFIG / "beamline.toml").read_text()
        path.write_text(text.replace("[epics]\n", '[epics]\nhdf5_plugin = "HDF1:"\n') if hdf5_plugin else text)
        table = tomllib.loads(path.read_text())
        zoom_level = int(table["simulated"]["zoom"])
        control_prefix = table["epics"].get("control_prefix", f"{table['epics']['camera_prefix']}SIM:")
        with served_beamline(path, folder / "ioc.log"):
            beamline = load_served_beamline(path, folder, timeout_s=60.0)
            from ophyd import EpicsSignal

            seed_pv = EpicsSignal(f"{control_prefix}Seed", name="seed")
            seed_pv.wait_for_connection(timeout=10)
            for seed in seeds:
                seed_pv.put(seed, wait=True)
                _wait_at_zero(beamline)
                run = _centre(RE, beamline, seed, make_segmenter(None), "ca")
                positions = {name: getattr(beamline.goniometer, name).position for name in MOTORS}
                records["over Channel Access"].append(_record(seed, run, positions, zoom_level, str(folder)))
                local = make_sim_beamline(seed=seed, zoom_level=zoom_level, write_directory=folder)
                local.camera.reference_background = lambda: None  # as the EPICS camera: no empty field recorded
                run = _centre(RE, local, seed, make_segmenter(local), "local")
                positions = {name: getattr(local.goniometer, name).position for name in MOTORS}
                records["in process"].append(_record(seed, run, positions, zoom_level, str(folder)))
                for frames in folder.glob("*.h5"):  # ~50 MB per alignment: keep the disk free
                    frames.unlink()
    return records


def _wait_at_zero(beamline, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while any(abs(getattr(beamline.goniometer, name).position) > 1e-9 for name in MOTORS):
        if time.monotonic() > deadline:
            raise TimeoutError("the motors did not return to zero after mounting")
        time.sleep(0.02)


def print_report(records: dict[str, list[dict]], title: str) -> None:
    print(title)
    print("| path | samples | centred | residual median (um) | residual 95th pct (um) | refused | s per alignment (median) |")
    print("|---|---|---|---|---|---|---|")
    for path, rows in records.items():
        good = np.array([r["error_um"] for r in rows if r["ok"]])
        refused = sum(bool(r["failure"]) for r in rows)
        print(
            f"| {path} | {len(rows)} | {sum(r['ok'] for r in rows)} | {np.median(good) if good.size else float('nan'):.2f} | "
            f"{np.percentile(good, 95) if good.size else float('nan'):.2f} | {refused} | {np.median([r['seconds'] for r in rows]):.2f} |"
        )
    ca, local = records["over Channel Access"], records["in process"]
    differ = [a["seed"] for a, b in zip(ca, local) if a["ok"] != b["ok"]]
    print(f"samples centred by one path and not the other: {len(differ)} {differ if differ else ''}")
