"""Rendering speed: labelled training images per second per core, and full-size camera frames.

    python benchmarks/rendering.py [--n 200]

Targets (issue 3): >= 20 labelled 320x256 images per second per core, <= 100 ms per 1360x1024 frame.
Both are timed in this one process (one core), medians over repeated runs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mxsight.sim.backgrounds import background_for
from mxsight.sim.projection import CameraGeometry, GoniometerPositions
from mxsight.sim.render import render
from mxsight.sim.scene import random_sample
from mxsight.training.simulated import example_seed, render_example


def time_training(n: int) -> np.ndarray:
    render_example(example_seed(0, 0))
    seconds = []
    for index in range(n):
        started = time.perf_counter()
        render_example(example_seed(1, index))
        seconds.append(time.perf_counter() - started)
    return np.array(seconds)


def time_full_frames(n: int) -> np.ndarray:
    camera = CameraGeometry(pixel_size_um=1.8, beam_position_px=(512.0, 680.0))
    background = background_for(5, camera.shape_px)
    render(random_sample(0), camera, GoniometerPositions(), background)
    seconds = []
    for index in range(n):
        sample = random_sample(index, with_crystal=True)
        started = time.perf_counter()
        render(sample, camera, GoniometerPositions(omega_deg=7.0 * index), background, noise_seed=index)
        seconds.append(time.perf_counter() - started)
    return np.array(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    training = time_training(args.n)
    full = time_full_frames(max(args.n // 4, 10))
    rate = 1.0 / np.median(training)
    full_ms = 1000 * np.median(full)
    rows = [
        ("training 320x256, images/s/core", f"{rate:.1f}", ">= 20", f"{rate / 20:.2f}x target"),
        ("full frame 1360x1024, ms (median)", f"{full_ms:.1f}", "<= 100", f"{100 / full_ms:.2f}x target"),
        ("full frame 1360x1024, ms (95th pct)", f"{1000 * np.percentile(full, 95):.1f}", "", ""),
    ]
    print(f"{'measure':<38}{'value':>10}{'target':>10}  ratio")
    for name, value, target, ratio in rows:
        print(f"{name:<38}{value:>10}{target:>10}  {ratio}")


if __name__ == "__main__":
    main()
