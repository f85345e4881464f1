"""How far simulated frames are from real ones: image statistics side by side, and a classifier that
tries to tell them apart (50% balanced accuracy = indistinguishable to it).

    python benchmarks/realism.py [--simulated 40] [--figure realism.png]

Real frames are the labelled SOLEIL PX2 images in ../shared (AGPL: read there, never copied here).
Simulated frames are full-size camera frames of random samples at the same zooms, with random optics.
The classifier is an L2-regularised logistic regression on the statistics below, scored by
leave-one-out balanced accuracy. With only a handful of real images the number is coarse; it is the
honest number this data supports. ``--figure`` writes real and simulated frames side by side to a path
outside the repository's tracked files (the real images may not be committed).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from scipy import ndimage as ndi
from scipy.optimize import minimize

from mxsight.sim.backgrounds import find_shared_data
from mxsight.training.labelme import read_labelme
from mxsight.training.simulated import example_seed, render_example

FEATURES = (
    "mean level",
    "contrast (std)",
    "dark fraction (<40)",
    "bright fraction (>220)",
    "edge density",
    "fine detail (laplacian std)",
    "red/green",
    "blue/green",
    "saturation",
)


def statistics(image: np.ndarray) -> np.ndarray:
    rgb = image.astype(np.float32)
    grey = rgb.mean(axis=2)
    gradient = np.hypot(ndi.sobel(grey, 0), ndi.sobel(grey, 1))
    green = rgb[..., 1].mean() + 1e-3
    saturation = (rgb.max(axis=2) - rgb.min(axis=2)) / (rgb.max(axis=2) + 1e-3)
    return np.array(
        [
            grey.mean(),
            grey.std(),
            (grey < 40).mean(),
            (grey > 220).mean(),
            (gradient > 60).mean(),
            ndi.laplace(grey).std(),
            rgb[..., 0].mean() / green,
            rgb[..., 2].mean() / green,
            saturation.mean(),
        ]
    )


def _fit_logistic(x: np.ndarray, y: np.ndarray, weights: np.ndarray, l2: float = 1.0) -> np.ndarray:
    design = np.column_stack([np.ones(len(x)), x])

    def loss(beta):
        z = design @ beta
        log_likelihood = weights * (y * z - np.logaddexp(0, z))
        return -log_likelihood.sum() + l2 * beta[1:] @ beta[1:]

    return minimize(loss, np.zeros(design.shape[1]), method="L-BFGS-B").x


def loo_balanced_accuracy(x: np.ndarray, y: np.ndarray) -> float:
    correct = {0: [], 1: []}
    for held in range(len(x)):
        train = np.arange(len(x)) != held
        mean, std = x[train].mean(axis=0), x[train].std(axis=0) + 1e-9
        xt = (x[train] - mean) / std
        weights = np.where(y[train] == 1, 0.5 / y[train].sum(), 0.5 / (1 - y[train]).sum())
        beta = _fit_logistic(xt, y[train], weights * len(xt))
        z = beta[0] + ((x[held] - mean) / std) @ beta[1:]
        correct[int(y[held])].append(int((z > 0) == bool(y[held])))
    return 0.5 * (np.mean(correct[0]) + np.mean(correct[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulated", type=int, default=40)
    parser.add_argument("--figure", default=None, help="write real/simulated frames side by side (PNG)")
    args = parser.parse_args()
    shared = find_shared_data()
    if shared is None:
        print("the shared SOLEIL PX2 data is not on this machine; nothing to compare with", file=sys.stderr)
        return 2
    real = [read_labelme(path) for path in sorted((shared / "annotated").glob("*.json"))]
    real = [example for example in real if example.masks["foreground"].any()]
    simulated = [render_example(example_seed(7, i), shape_px=(1024, 1360)) for i in range(args.simulated)]
    x_real = np.array([statistics(e.image) for e in real])
    x_sim = np.array([statistics(e.image) for e in simulated])
    x = np.vstack([x_real, x_sim])
    y = np.r_[np.ones(len(x_real)), np.zeros(len(x_sim))]
    accuracy = loo_balanced_accuracy(x, y)
    print(f"real frames: {len(x_real)} (labelled, with a sample), simulated frames: {len(x_sim)}")
    print(f"{'statistic':<30}{'real mean':>12}{'sim mean':>12}{'sim std':>12}{'gap (sim std)':>15}")
    for name, r, s, sd in zip(FEATURES, x_real.mean(0), x_sim.mean(0), x_sim.std(0)):
        print(f"{name:<30}{r:>12.3f}{s:>12.3f}{sd:>12.3f}{(r - s) / (sd + 1e-9):>15.2f}")
    print(f"\nreal-vs-simulated classifier, leave-one-out balanced accuracy: {100 * accuracy:.0f}% (50% = indistinguishable)")
    print(json.dumps({"balanced_accuracy": accuracy, "n_real": len(x_real), "n_simulated": len(x_sim)}))
    if args.figure:
        _figure(real, simulated[: len(real)], args.figure)
        print(f"figure: {args.figure}")
    return 0


def _figure(real, simulated, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = max(len(real), len(simulated))
    figure, axes = plt.subplots(2, columns, figsize=(3.2 * columns, 5), squeeze=False)
    for row, (examples, label) in enumerate(((real, "real"), (simulated, "simulated"))):
        for column in range(columns):
            axis = axes[row, column]
            axis.axis("off")
            if column < len(examples):
                axis.imshow(examples[column].image)
                axis.set_title(f"{label}, zoom {examples[column].metadata.get('zoom', '?')}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=70)


if __name__ == "__main__":
    sys.exit(main())
