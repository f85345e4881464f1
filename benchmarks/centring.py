"""Centring benchmark: seeded simulated samples -> success rate, residual error, frames, compute time.

    python benchmarks/centring.py --samples 20 [--zoom 5] [--first-seed 1000] [--segmenter default|classical|both]

Each sample runs the real ``auto_centre`` plan with a RunEngine (no Tiled writer, to time the
alignment itself). "Compute" is the time spent in segmentation, fitting and the plan, i.e. the wall
time minus the simulated camera's rendering, which a real camera does not cost.
"""

from __future__ import annotations

import sqlite3  # noqa: F401  (before TensorFlow)

import argparse
import tempfile
import time

import numpy as np
from bluesky import RunEngine

from mxsight.devices.sim import make_sim_beamline
from mxsight.plans.auto_centre import auto_centre
from mxsight.plans.errors import AlignmentError
from mxsight.vision.segmenter import Segmenter

SUCCESS_RADIUS_UM = 10.0


def run(samples: int, zoom: int, first_seed: int, segmenter_name: str = "default") -> dict[str, object]:
    RE = RunEngine({}, call_returns_result=True)
    network = Segmenter.default() if segmenter_name == "default" else None
    residuals, frames, compute, failures = [], [], [], {}
    with tempfile.TemporaryDirectory() as directory:
        for seed in range(first_seed, first_seed + samples):
            beamline = make_sim_beamline(seed=seed, zoom_level=zoom, write_directory=directory)
            render_seconds = []
            acquire = beamline.camera.acquire_frame

            def timed_acquire(acquire=acquire, render_seconds=render_seconds):
                started = time.perf_counter()
                frame = acquire()
                render_seconds.append(time.perf_counter() - started)
                return frame

            beamline.camera.acquire_frame = timed_acquire
            started = time.perf_counter()
            try:
                segmenter = network or Segmenter.classical(background=beamline.camera.reference_background())
                RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id=f"bench-{seed}", segmenter=segmenter))
            except AlignmentError as error:
                failures[seed] = type(error).__name__
            compute.append(time.perf_counter() - started - sum(render_seconds))
            frames.append(len(render_seconds))
            residuals.append(beamline.loop_centre_errors_um()["from_beam_um"])
    residuals = np.array(residuals)
    succeeded = np.array([seed not in failures for seed in range(first_seed, first_seed + samples)]) & (residuals < SUCCESS_RADIUS_UM)
    return {
        "samples": samples,
        "success rate": f"{100 * succeeded.mean():.1f} %",
        "residual median (um)": f"{np.median(residuals[succeeded]):.2f}" if succeeded.any() else "-",
        "residual 95th pct (um)": f"{np.percentile(residuals[succeeded], 95):.2f}" if succeeded.any() else "-",
        "frames per alignment": f"{np.mean(frames):.1f}",
        "compute s per alignment": f"{np.mean(compute):.2f}",
        "failures": ", ".join(f"{seed}:{name}" for seed, name in failures.items()) or "none",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--zoom", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--segmenter", choices=("default", "classical", "both"), default="both")
    args = parser.parse_args()
    names = ("default", "classical") if args.segmenter == "both" else (args.segmenter,)
    tables = {name: run(args.samples, args.zoom, args.first_seed, name) for name in names}
    width = max(len(key) for key in tables[names[0]])
    print(f"auto_centre on the simulated beamline, zoom {args.zoom}, same samples for each segmenter")
    print(f"{'metric':<{width}}  " + "  ".join(f"{name:>12}" for name in names))
    for key in tables[names[0]]:
        print(f"{key:<{width}}  " + "  ".join(f"{str(tables[name][key]):>12}" for name in names))


if __name__ == "__main__":
    main()
