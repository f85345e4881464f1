"""CPU inference speed: mxsight's default network against a murko-sized FC-DenseNet, in one run.

    python benchmarks/inference.py [--repeats 5] [--threads 2]

The default is the shipped model (``mxsight/models/default.keras``). The reference is an FC-DenseNet in the spirit of the talk's network (growth rate 16, dense blocks of
4-5-7-10-12 layers down, 15 in the bottleneck, mirrored up, depthwise-separable convolutions),
untrained: speed does not depend on the weights. Prints ms per image (median over repeats) at batch 1
and 8, at 256x320 and 512x640, and the ratio reference / default. Targets (issue 4): default <= 40 ms
per 256x320 image at batch 8, and >= 30x faster than the reference. A second table times what a plan
pays per camera frame: ``Segmenter.predict`` on simulated 1024x1360 frames (the shipped network coarse
to fine, masks at the frame's resolution) beside the classical baseline.
"""

from __future__ import annotations

import sqlite3  # noqa: F401  (before TensorFlow)

import argparse
import time

import numpy as np


def fc_densenet(growth: int = 16, down: tuple[int, ...] = (4, 5, 7, 10, 12), bottleneck: int = 15, first: int = 48):
    import keras
    from keras import layers

    def layer(x):
        y = layers.BatchNormalization()(x)
        y = layers.Activation("relu")(y)
        y = layers.SeparableConv2D(growth, 3, padding="same")(y)
        return layers.Dropout(0.2)(y)

    def block(x, n):
        new = []
        for _ in range(n):
            y = layer(x)
            new.append(y)
            x = layers.Concatenate()([x, y])
        return x, layers.Concatenate()(new) if len(new) > 1 else new[0]

    inputs = keras.Input((None, None, 3))
    x = layers.Conv2D(first, 3, padding="same")(layers.Rescaling(1 / 255.0)(inputs))
    skips = []
    for n in down:
        x, _ = block(x, n)
        skips.append(x)
        x = layers.BatchNormalization()(x)
        x = layers.Conv2D(x.shape[-1], 1)(layers.Activation("relu")(x))
        x = layers.MaxPooling2D()(x)
    _, x = block(x, bottleneck)
    for n, skip in zip(reversed(down), reversed(skips)):
        x = layers.Conv2DTranspose(x.shape[-1], 3, strides=2, padding="same")(x)
        x = layers.Concatenate()([x, skip])
        _, x = block(x, n)
    outputs = layers.Conv2D(9, 1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name="fc_densenet_reference")


def time_model(model, batch: int, shape: tuple[int, int], repeats: int) -> float:
    import tensorflow as tf

    run = tf.function(lambda x: model(x, training=False))
    images = tf.constant(np.random.default_rng(0).integers(0, 255, (batch, *shape, 3)).astype(np.float32))
    run(images)
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        run(images).numpy()
        seconds.append(time.perf_counter() - started)
    return 1000.0 * float(np.median(seconds)) / batch


def camera_frames(count: int = 6) -> tuple[list[np.ndarray], np.ndarray]:
    """Simulated on-axis frames (1024x1360) of one sample at evenly spread omegas, and its empty field."""
    import tempfile

    from mxsight.devices.sim import make_sim_beamline

    with tempfile.TemporaryDirectory() as directory:
        beamline = make_sim_beamline(seed=3, write_directory=directory)
        frames = []
        for omega in np.linspace(0.0, 360.0, count, endpoint=False):
            beamline.goniometer.omega.set(float(omega))
            frames.append(beamline.camera.acquire_frame())
        return frames, beamline.camera.reference_background()


def time_segmenter(segmenter, frames: list[np.ndarray], repeats: int) -> float:
    """Median ms per frame of ``segmenter.predict`` over ``repeats`` passes through ``frames``."""
    segmenter.predict(frames[0])
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        for frame in frames:
            segmenter.predict(frame)
        seconds.append((time.perf_counter() - started) / len(frames))
    return 1000.0 * float(np.median(seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from mxsight.vision.network_segmenter import NetworkSegmenter

    default, reference = NetworkSegmenter.shipped().model, fc_densenet()
    print(f"default network: {default.count_params():,} parameters; reference FC-DenseNet: {reference.count_params():,}")
    print(f"{'input':<10}{'batch':>6}{'default ms/img':>16}{'reference ms/img':>18}{'ratio':>8}")
    for shape in ((256, 320), (512, 640)):
        for batch in (1, 8):
            ours = time_model(default, batch, shape, args.repeats)
            theirs = time_model(reference, batch, shape, max(2, args.repeats // 2))
            print(f"{shape[0]}x{shape[1]:<6}{batch:>6}{ours:>16.1f}{theirs:>18.1f}{theirs / ours:>8.1f}")
    from mxsight.vision.segmenter import Segmenter

    frames, background = camera_frames()
    network_ms = time_segmenter(Segmenter.default(), frames, args.repeats)
    classical_ms = time_segmenter(Segmenter.classical(background=background), frames, args.repeats)
    rows, cols = frames[0].shape[:2]
    print(f"\nper {rows}x{cols} camera frame (Segmenter.predict, masks at full resolution, {len(frames)} frames)")
    print(f"{'segmenter':<12}{'ms/frame':>10}")
    print(f"{'network':<12}{network_ms:>10.1f}")
    print(f"{'classical':<12}{classical_ms:>10.1f}")


if __name__ == "__main__":
    main()
