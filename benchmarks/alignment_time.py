"""Wall time per alignment with realistic motion: stepped against continuous sweeps.

    python benchmarks/centring.py --realistic-motion [--samples 20] [--first-seed 6000] [--segmenter default|truth]

Each seeded sample (drawn as in the centring benchmark: both spindle orientations, fine zoom 5-7, ice
on a third) is centred twice, from the same start, on a simulated beamline whose motors, zoom and camera
take real time (``RealisticMotion``: omega 180 deg/s, translations 1 mm/s, zoom 5 levels/s, a camera
streaming at 30 frames/s): with the plan's default stepped sweeps (omega stops at each angle), and with
the same sweeps continuous (omega turns without stopping while the camera streams; the frames are
segmented after the turn). Time is the plan's wall time less the simulator's rendering (its clock stops
while a frame is rendered, as a real camera costs the beamline nothing), so it counts motion, waiting
for exposures, segmentation and fitting. Success: the target centred within 10 um of the beam.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time

import numpy as np

from mxsight.devices.sim import make_sim_beamline
from mxsight.plans.auto_centre import auto_centre
from mxsight.plans.errors import AlignmentError
from mxsight.plans.sweeps import COARSE_IF_NEEDED_THEN_FINE
from mxsight.sim.render import Optics
from mxsight.sim.scene import random_sample

SUCCESS_RADIUS_UM = 10.0
CLASSIC_METHOD_S = 8.0  # the classical image-analysis alignment the issue compares with
MODES = {
    "stepped": COARSE_IF_NEEDED_THEN_FINE,
    "continuous": tuple(dataclasses.replace(sweep, continuous=True) for sweep in COARSE_IF_NEEDED_THEN_FINE),
}


def one_alignment(seed: int, sweeps, make_segmenter, RE, directory: str) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    spindle = "horizontal" if seed % 2 == 0 else "vertical"
    zoom_level = int(rng.choice([5, 6, 7]))
    sample = random_sample(seed, crystal_anywhere_in_film=True, ice_probability=0.3)
    beamline = make_sim_beamline(sample=sample, zoom_level=zoom_level, write_directory=directory, spindle=spindle, seed=seed, realistic_motion=True)
    beamline.camera.optics = Optics(dust_specks=int(rng.integers(0, 6)))
    clock = beamline.camera.clock
    paused, started = clock.paused_s, time.perf_counter()
    outcome, failure = None, ""
    try:
        outcome = RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id=f"time-{seed}", sweeps=sweeps, segmenter=make_segmenter(beamline, spindle))).plan_result
    except AlignmentError as error:
        failure, outcome = type(error).__name__, error.outcome
    wall_s = time.perf_counter() - started
    beamline_s = wall_s - (clock.paused_s - paused)
    error_um = beamline.target_errors_um(outcome.target)["from_beam_um"] if outcome is not None and outcome.solutions and not failure else float("nan")
    return {
        "seed": seed,
        "beamline_s": beamline_s,
        "wall_s": wall_s,
        "frames": outcome.frames if outcome is not None else 0,
        "coarse": bool(outcome is not None and 0 in outcome.passes),
        "ok": bool(error_um < SUCCESS_RADIUS_UM),
        "failure": failure,
    }


def run(seeds: list[int], make_segmenter, RE) -> dict[str, list[dict]]:
    records: dict[str, list[dict]] = {mode: [] for mode in MODES}
    for seed in seeds:
        for mode, sweeps in MODES.items():
            with tempfile.TemporaryDirectory() as directory:
                records[mode].append(one_alignment(seed, sweeps, make_segmenter, RE, directory))
    return records


def print_report(records: dict[str, list[dict]], title: str) -> None:
    print(title)
    medians = {mode: float(np.median([r["beamline_s"] for r in rows])) for mode, rows in records.items()}
    print("| sweeps | samples | centred | time median (s) | time 95th pct (s) | wall incl. rendering, median (s) | frames | coarse sweep | median vs stepped | median vs classic 8 s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for mode, rows in records.items():
        times = np.array([r["beamline_s"] for r in rows])
        print(
            f"| {mode} | {len(rows)} | {sum(r['ok'] for r in rows)} | {np.median(times):.2f} | {np.percentile(times, 95):.2f} | "
            f"{np.median([r['wall_s'] for r in rows]):.2f} | {np.mean([r['frames'] for r in rows]):.1f} | {sum(r['coarse'] for r in rows)} | "
            f"{medians[mode] / medians['stepped']:.2f} | {medians[mode] / CLASSIC_METHOD_S:.2f} |"
        )
    for mode, rows in records.items():
        failures = [f"{r['seed']}: {r['failure']}" for r in rows if r["failure"]]
        if failures:
            print(f"- {mode} refused: " + ", ".join(failures))
