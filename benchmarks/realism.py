"""Can a small network tell simulated frames from real ones? (50% held-out accuracy = it cannot.)

    python benchmarks/realism.py [--crops-per-frame 24] [--simulated 60] [--epochs 12] [--realism 0 0.5] [--figure /tmp/realism.png]

Crops of the sample region (squares of 25-60% of the frame's shorter side, centred on a random pixel of
the labelled foreground, resized to 64x64 RGB) are taken from every real labelled frame with a sample
(the SOLEIL PX2 frames and the other sources labelled in data/real/labels, read from ../shared, never
copied here) and from simulated camera frames (``mxsight.training.simulated.render_example``, once per
``--realism`` value: the probability of each look of other cameras, ``dataset render --realism``). A small
convolutional classifier is trained to tell them apart, one real frame held out at a time: it is
trained on the crops of the other real frames and of one set of simulated frames, and scored on the
held-out frame's crops and on crops of simulated frames it never saw. The mean balanced accuracy over
the folds is the realism number: global statistics can match while every real loop still looks unlike
any rendered one, which this classifier sees. ``--figure`` writes real and simulated crops side by
side; keep it outside the repository (the real images' licences do not allow committing them).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from skimage.transform import resize

from mxsight.training.real_data import RealSplits, label_file, shared_data_root
from mxsight.training.labelme import read_labelme
from mxsight.training.simulated import REALISM_KNOBS, SceneMix, example_seed, render_example

CROP_PX = 64
SIM_SHAPE_PX = (512, 680)
MIN_TRAINING_ACCURACY = 0.8  # below this on its own training crops the classifier has not learnt, and its 50% means nothing


def sample_crops(image: np.ndarray, foreground: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` square crops around random foreground pixels, resized to CROP_PX, as float 0-1."""
    rows, cols = np.nonzero(foreground)
    shorter = min(image.shape[:2])
    crops = []
    for _ in range(count):
        pick = rng.integers(len(rows))
        half = int(rng.uniform(0.125, 0.3) * shorter)
        top = int(np.clip(rows[pick] - half, 0, image.shape[0] - 2 * half))
        left = int(np.clip(cols[pick] - half, 0, image.shape[1] - 2 * half))
        window = image[top : top + 2 * half, left : left + 2 * half]
        crops.append(resize(window, (CROP_PX, CROP_PX), anti_aliasing=True, preserve_range=True) / 255.0)
    return np.asarray(crops, dtype=np.float32)


def real_frames(root: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, image, foreground) of every labelled real frame with a sample, both splits."""
    splits = RealSplits.load()
    frames = []
    for entry in (*splits.labelled["evaluation"], *splits.labelled["training"]):
        example = read_labelme(label_file(entry, root))
        if example.masks["foreground"].sum() > 500:
            frames.append((entry, example.image, example.masks["foreground"]))
    return frames


def classifier():
    import keras
    from keras import layers

    model = keras.Sequential(
        [
            keras.Input((CROP_PX, CROP_PX, 3)),
            layers.Conv2D(16, 3, strides=2, activation="relu"),
            layers.Conv2D(32, 3, strides=2, activation="relu"),
            layers.Conv2D(64, 3, strides=2, activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dropout(0.3),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    return model


def balanced_accuracy(model, real: np.ndarray, simulated: np.ndarray) -> float:
    real_right = float((model.predict(real, verbose=0)[:, 0] > 0.5).mean())
    sim_right = float((model.predict(simulated, verbose=0)[:, 0] <= 0.5).mean())
    return 0.5 * (real_right + sim_right)


def simulated_crops(count: int, realism: float, crops_per_frame: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Crops of ``count`` simulated frames rendered with every realism knob at ``realism``."""
    mix = SceneMix(**{knob: realism for knob in REALISM_KNOBS})
    crops = []
    for index in range(count):
        example = render_example(example_seed(11, index), shape_px=SIM_SHAPE_PX, mix=mix)
        if example.masks["foreground"].sum() > 200:
            crops.append(sample_crops(example.image, example.masks["foreground"], crops_per_frame, rng))
    return crops


def leave_one_real_frame_out(real: list[tuple[str, np.ndarray]], simulated: list[np.ndarray], epochs: int, rng: np.random.Generator) -> dict:
    """Train on all real frames but one and half the simulated ones; score the held-out real frame
    against as many crops of simulated frames never seen. Mean balanced accuracies over the folds."""
    half = len(simulated) // 2
    sim_train, sim_test = np.concatenate(simulated[:half]), np.concatenate(simulated[half:])
    folds = []
    for held, (name, crops) in enumerate(real):
        train_real = np.concatenate([c for i, (_, c) in enumerate(real) if i != held])
        x = np.concatenate([train_real, sim_train])
        y = np.r_[np.ones(len(train_real)), np.zeros(len(sim_train))].astype(np.float32)
        weights = np.where(y == 1, 0.5 / y.sum(), 0.5 / (1 - y).sum()) * len(y)
        model = classifier()
        model.fit(x, y, sample_weight=weights, epochs=epochs, batch_size=32, shuffle=True, verbose=0)
        test_sim = sim_test[rng.choice(len(sim_test), size=len(crops), replace=False)]
        trained = balanced_accuracy(model, train_real, sim_train)
        folds.append({"held_out_frame": name, "balanced_accuracy": balanced_accuracy(model, crops, test_sim), "training_balanced_accuracy": trained})
        print(f"  {name:<90} held out {100 * folds[-1]['balanced_accuracy']:5.1f}%   trained on {100 * trained:5.1f}%")
    return {
        "balanced_accuracy": float(np.mean([f["balanced_accuracy"] for f in folds])),
        "training_balanced_accuracy": float(np.mean([f["training_balanced_accuracy"] for f in folds])),
        "folds": folds,
        "simulated_frames": len(simulated),
        "sim_test_crops": sim_test,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops-per-frame", type=int, default=24)
    parser.add_argument("--simulated", type=int, default=60, help="simulated frames for training (as many again are held out)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--realism", type=float, nargs="+", default=[0.0, 0.5], help="realism knob values to compare (dataset render --realism), each rendered and scored in this run")
    parser.add_argument("--figure", type=Path, default=None, help="real and simulated crops side by side (PNG, outside the repository)")
    args = parser.parse_args()
    root = shared_data_root()
    if root is None:
        print("the shared real data (../shared/data) is not on this machine; nothing to compare with", file=sys.stderr)
        return 2
    import keras

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    real = [(name, sample_crops(image, foreground, args.crops_per_frame, rng)) for name, image, foreground in real_frames(root)]
    results = {}
    for realism in args.realism:
        print(f"realism {realism}:")
        results[realism] = leave_one_real_frame_out(real, simulated_crops(2 * args.simulated, realism, args.crops_per_frame, rng), args.epochs, rng)
    print(f"\nreal frames: {len(real)}, simulated frames: {2 * args.simulated} per realism setting (half to train, half held out), {args.crops_per_frame} crops each")
    print("\n| realism | held-out balanced accuracy (50% = indistinguishable) | on its own training crops |\n|---|---|---|")
    for realism, result in results.items():
        note = "" if result["training_balanced_accuracy"] >= MIN_TRAINING_ACCURACY else " (did not learn: measures nothing)"
        print(f"| {realism} | {100 * result['balanced_accuracy']:.1f}% | {100 * result['training_balanced_accuracy']:.1f}%{note} |")
    print(json.dumps({str(k): {key: v for key, v in r.items() if key != "sim_test_crops"} for k, r in results.items()}))
    if args.figure:
        _figure([c[:4] for _, c in real], results[args.realism[-1]]["sim_test_crops"], args.figure)
        print(f"figure: {args.figure} (simulated crops at realism {args.realism[-1]})")
    return 0


def _figure(real_crops: list[np.ndarray], sim_crops: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    real = np.concatenate(real_crops)
    columns = min(12, len(real))
    figure, axes = plt.subplots(4, columns, figsize=(1.4 * columns, 6), squeeze=False)
    for row in range(4):
        source, label = (real, "real") if row < 2 else (sim_crops, "sim")
        for column in range(columns):
            axis = axes[row, column]
            axis.axis("off")
            index = (row % 2) * columns + column
            if index < len(source):
                axis.imshow(source[index])
                axis.set_title(label, fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=80)


if __name__ == "__main__":
    sys.exit(main())
