"""The training config of ``mxsight train --config FILE``, read and checked before anything trains.

The config is TOML::

    [data]
    train = ["sim-10k", "real"]          # dataset directories (mxsight dataset format)
    validation = ["sim-val"]
    draw_shares = { real = 0.2 }         # optional: these sets' share of the draws (others: by size)

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mxsight.toml_files import read_toml
from mxsight.training.dataset_format import TARGET_CHANNELS
from mxsight.training.losses import check_edge_px
from mxsight.training.pipeline import draw_weights
from mxsight.vision.network import NetworkConfig


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
