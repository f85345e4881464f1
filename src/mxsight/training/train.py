"""``mxsight train --config FILE``: train the segmentation network on labelled datasets.

The config is TOML::

    [data]
    train = ["sim-10k", "real"]          # dataset directories (mxsight dataset format)
    validation = ["sim-val"]
    draw_shares = { real = 0.2 }          # optional: these sets' share of the draws (others: by size)

    [model]
    widths = [16, 32, 64, 96, 160]
    full_resolution_width = 8

    [training]
    out = "runs/unet-1"                  # checkpoints, logs, learning curve, final model
    image_shape = [256, 320]
    crop_shape = [160, 192]              # optional: train on random crops at full pixel scale
    batch_size = 8
    epochs = 60
    steps_per_epoch = 400                # optional: else one pass over the training data
    learning_rate = 1e-3
    dice_weight = 0.5
    background_swap = 0.3                # share of images re-lit with another (real) empty field
    empty_fields = 0.05                  # share of images replaced by an empty field (nothing mounted)
    channel_weights = { ice = 3.0 }      # optional: weigh maps in the loss (notions and "click"; others 1)
    edge_weights = { loop = 4.0 }        # optional: extra focal weight near a map's true edge (others 0)
    edge_px = 2                          # how near: pixels either side of the edge
    ice_weights = { loop = 4.0 }         # optional: extra focal weight where the ice map is true (others 0)
    reset_outputs = ["ice"]              # optional: re-initialise these maps of the initial model (reset_outputs.py)
    cache = true                         # read the datasets into memory first
    initial_model = "runs/a/model.keras" # optional: start from these weights (fine-tuning)
    seed = 0

Focal loss plus a soft Dice term (``dice_weight``), RMSprop, learning rate halved after 3 epochs
without validation improvement, early stopping, checkpoints (the best and every epoch's), resume after interruption
(BackupAndRestore), TensorBoard and CSV logs, a learning-curve PNG; mixed precision and a mirrored
strategy when GPUs are present.
"""

from __future__ import annotations

import sqlite3  # noqa: F401  (before TensorFlow, see mxsight/__init__)

from dataclasses import dataclass, field
from pathlib import Path

from mxsight.toml_files import read_toml
from mxsight.training.dataset_format import TARGET_CHANNELS
from mxsight.training.losses import FocalDiceLoss, check_edge_px
from mxsight.training.pipeline import draw_weights, make_dataset
from mxsight.training.reset_outputs import reset_output_channels
from mxsight.vision.network import NetworkConfig, build_model


def _per_map(named: tuple[tuple[str, float], ...], unnamed: float) -> list[float] | None:
    """Weights by map name as one per target map (``TARGET_CHANNELS`` order), ``unnamed`` for the
    maps not named; None when no map is named (the loss's own default)."""
    if not named:
        return None
    weights = dict(named)
    return [float(weights.get(name, unnamed)) for name in TARGET_CHANNELS]


@dataclass(frozen=True)
class TrainingConfig:
    train: tuple[str, ...]
    validation: tuple[str, ...]
    out: str
    model: NetworkConfig | None = field(default_factory=NetworkConfig)  # None: the initial model's own
    image_shape: tuple[int, int] = (256, 320)
    batch_size: int = 8
    epochs: int = 60
    steps_per_epoch: int | None = None
    learning_rate: float = 1e-3
    seed: int = 0
    early_stopping_patience: int = 8
    dice_weight: float = 0.5
    cache: bool = True
    crop_shape: tuple[int, int] | None = None
    background_swap: float = 0.0
    empty_fields: float = 0.0
    initial_model: str | None = None
    channel_weights: tuple[tuple[str, float], ...] = ()
    edge_weights: tuple[tuple[str, float], ...] = ()
    edge_px: int = 2
    ice_weights: tuple[tuple[str, float], ...] = ()
    reset_outputs: tuple[str, ...] = ()
    draw_shares: tuple[tuple[str, float], ...] = ()  # (training set as in ``train``, share of draws)

    def __post_init__(self) -> None:
        for key, named in (("channel_weights", self.channel_weights), ("edge_weights", self.edge_weights), ("ice_weights", self.ice_weights)):
            unknown = sorted({name for name, _ in named} - set(TARGET_CHANNELS))
            if unknown:
                raise ValueError(f"{key} names unknown maps {unknown}; known: {', '.join(TARGET_CHANNELS)}")
            negative = [name for name, weight in named if weight < 0]
            if negative:
                raise ValueError(f"{key} must be >= 0 (got a negative weight for {', '.join(negative)})")
        check_edge_px(self.edge_px)
        if "click" in dict(self.edge_weights):
            raise ValueError("edge_weights cannot weigh the click map: its target is a soft peak, without an edge")
        if "click" in dict(self.ice_weights):
            raise ValueError("ice_weights cannot weigh the click map: an operator clicks the sample, not the ice")
        if self.reset_outputs and self.initial_model is None:
            raise ValueError("reset_outputs re-initialises maps of an initial model; set initial_model too")
        unknown = sorted(set(self.reset_outputs) - set(TARGET_CHANNELS))
        if unknown:
            raise ValueError(f"reset_outputs names unknown maps {unknown}; known: {', '.join(TARGET_CHANNELS)}")
        strangers = sorted({name for name, _ in self.draw_shares} - set(self.train))
        if strangers:
            raise ValueError(f"draw_shares names sets that are not training sets: {', '.join(strangers)}")
        if self.draw_shares:
            if self.steps_per_epoch is None:
                raise ValueError("draw_shares need steps_per_epoch (an epoch is then a number of draws, not one pass)")
            draw_weights([1] * len(self.train), self.training_shares())

    def training_shares(self) -> list[float | None]:
        """Each training set's share of the draws, as ``train`` lists them (None: by its size)."""
        shares = dict(self.draw_shares)
        return [shares.get(name) for name in self.train]

    def loss_weights(self) -> list[float] | None:
        """One loss weight per target map (``TARGET_CHANNELS`` order), or None when all are 1."""
        return _per_map(self.channel_weights, unnamed=1.0)

    def loss_edge_weights(self) -> list[float] | None:
        """One edge weight per target map (``TARGET_CHANNELS`` order), or None when there are none."""
        return _per_map(self.edge_weights, unnamed=0.0)

    def loss_ice_weights(self) -> list[float] | None:
        """One on-ice weight per target map (``TARGET_CHANNELS`` order), or None when there are none."""
        return _per_map(self.ice_weights, unnamed=0.0)

    @classmethod
    def from_file(cls, path: Path | str) -> "TrainingConfig":
        path = Path(path)
        table = read_toml(path, "training config")
        data, training = table.get("data", {}), table.get("training", {})
        missing = [k for k in ("train", "validation") if k not in data] + (["out"] if "out" not in training else [])
        if missing:
            raise ValueError(f"{path}: missing {', '.join(missing)} ([data] train/validation, [training] out)")
        model = table.get("model", {})
        base = path.parent
        known = {"out", "image_shape", "batch_size", "epochs", "steps_per_epoch", "learning_rate", "seed", "early_stopping_patience", "dice_weight", "cache", "crop_shape", "background_swap", "empty_fields", "initial_model", "channel_weights", "edge_weights", "edge_px", "ice_weights", "reset_outputs"}
        unknown = set(training) - known
        if unknown:
            raise ValueError(f"{path}: unknown [training] keys {sorted(unknown)}")
        options = {k: v for k, v in training.items() if k != "out"}
        if "initial_model" in options:
            options["initial_model"] = str(base / options["initial_model"])
        for key in ("image_shape", "crop_shape"):
            if key in options:
                options[key] = tuple(options[key])
        if "reset_outputs" in options:
            options["reset_outputs"] = tuple(options["reset_outputs"])
        for key in ("channel_weights", "edge_weights", "ice_weights"):
            if key in options:
                options[key] = tuple(options[key].items())
        unknown = set(data) - {"train", "validation", "draw_shares"}
        if unknown:
            raise ValueError(f"{path}: unknown [data] keys {sorted(unknown)}")
        return cls(
            train=tuple(str(base / d) for d in data["train"]),
            draw_shares=tuple((str(base / d), float(share)) for d, share in data.get("draw_shares", {}).items()),
            validation=tuple(str(base / d) for d in data["validation"]),
            out=str(base / training["out"]),
            model=NetworkConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in model.items()}),
            **options,
        )


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
