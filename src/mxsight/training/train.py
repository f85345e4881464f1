"""``mxsight train --config FILE``: train the segmentation network on labelled datasets (the config:
``mxsight.training.training_config``).

Focal loss plus a soft Dice term (``dice_weight``), RMSprop, learning rate halved after 3 epochs
without validation improvement, early stopping, checkpoints (the best and every epoch's), resume after interruption
(BackupAndRestore), TensorBoard and CSV logs, a learning-curve PNG; mixed precision and a mirrored
strategy when GPUs are present.
"""

from __future__ import annotations

import sqlite3  # noqa: F401  (before TensorFlow, see mxsight/__init__)

from pathlib import Path

from mxsight.training.dataset_format import TARGET_CHANNELS
from mxsight.training.losses import FocalDiceLoss
from mxsight.training.pipeline import make_dataset
from mxsight.training.reset_outputs import reset_output_channels
from mxsight.training.training_config import TrainingConfig
from mxsight.vision.network import build_model

__all__ = ["TrainingConfig", "train"]


def _strategy():
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        import keras

        keras.mixed_precision.set_global_policy("mixed_float16")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


def train(config: TrainingConfig, *, verbose: int = 1) -> Path:
    """Train and return the path of the model with the best validation loss (``<out>/model.keras``).
    Every epoch's model is kept too (``<out>/epochs/epochNNN.keras``): the weighted validation loss
    is not the only criterion a checkpoint is chosen by (see docs/model-card.md)."""
    import keras

    keras.utils.set_random_seed(config.seed)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    train_data = make_dataset(config.train, image_shape=config.image_shape, batch_size=config.batch_size, augment=True, seed=config.seed, repeat=config.steps_per_epoch is not None, cache=config.cache, crop_shape=config.crop_shape, background_swap_probability=config.background_swap, empty_field_probability=config.empty_fields, draw_shares=config.training_shares())
    validation_data = make_dataset(config.validation, image_shape=config.image_shape, batch_size=config.batch_size, augment=False, seed=config.seed, cache=config.cache)
    with _strategy().scope():
        if config.model is None:
            model = _saved_model(config.initial_model)
        else:
            model = build_model(config.model)
            if config.initial_model is not None:
                model.set_weights(_weights_of(config.initial_model, model))
        if config.reset_outputs:
            reset_output_channels(model, config.reset_outputs, next(iter(validation_data))[0].numpy(), seed=config.seed)
        model.compile(
            optimizer=keras.optimizers.RMSprop(config.learning_rate),
            loss=FocalDiceLoss(gamma=2.0, dice_weight=config.dice_weight, channel_weights=config.loss_weights(), edge_weights=config.loss_edge_weights(), edge_px=config.edge_px, ice_weights=config.loss_ice_weights(), ice_channel=TARGET_CHANNELS.index("ice")),
            metrics=[keras.metrics.BinaryIoU(target_class_ids=[1], threshold=0.5, name="iou")],
        )
    best = out / "model.keras"
    callbacks = [
        keras.callbacks.BackupAndRestore(str(out / "backup")),
        keras.callbacks.ModelCheckpoint(str(best), monitor="val_loss", save_best_only=True),
        keras.callbacks.ModelCheckpoint(str(out / "epochs" / "epoch{epoch:03d}.keras")),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.early_stopping_patience),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
        keras.callbacks.TensorBoard(str(out / "tensorboard")),
    ]
    model.fit(
        train_data,
        validation_data=validation_data,
        epochs=config.epochs,
        steps_per_epoch=config.steps_per_epoch,
        callbacks=callbacks,
        verbose=verbose,
    )
    plot_learning_curve(out / "history.csv", out / "learning_curve.png")
    return best


def _saved_model(path: str | None):
    """The saved model to fine-tune as it is (its own architecture): ``mxsight train --resume``."""
    import keras

    if path is None:
        raise ValueError("a training config without [model] needs an initial model to resume from")
    if not Path(path).exists():
        raise FileNotFoundError(f"model to resume from {path} does not exist")
    return keras.saving.load_model(path, compile=False)


def _weights_of(path: str, model) -> list:
    """Weights of the saved model at ``path``, checked against ``model``'s architecture."""
    import keras

    if not Path(path).exists():
        raise FileNotFoundError(f"initial_model {path} does not exist")
    saved = keras.saving.load_model(path, compile=False)
    mine = [w.shape for w in model.get_weights()]
    theirs = [w.shape for w in saved.get_weights()]
    if mine != theirs:
        raise ValueError(f"initial_model {path} has another architecture than [model] in the config ({len(theirs)} vs {len(mine)} weight arrays, or other shapes)")
    return saved.get_weights()


def plot_learning_curve(history_csv: Path, out: Path) -> Path:
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(history_csv) as handle:
        rows = list(csv.DictReader(handle))
    epochs = [int(r["epoch"]) + 1 for r in rows]
    figure, axis = plt.subplots(figsize=(6, 4))
    for key in ("loss", "val_loss"):
        axis.plot(epochs, [float(r[key]) for r in rows], "o-", label=key)
    axis.set_xlabel("epoch")
    axis.set_ylabel("loss (focal + dice)")
    axis.set_yscale("log")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out, dpi=80)
    plt.close(figure)
    return out
