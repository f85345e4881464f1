"""The one on-disk format for labelled images (simulated, imported from labelme, exported from runs).

A dataset is a directory::

    dataset.json        {"format": "mxsight-dataset", "version": 1, "notions": [...], "count": N,
                         "shards": [{"file": "shard-00000.h5", "count": n, "shape": [rows, cols]}]}
    shard-00000.h5      /images    (n, rows, cols, 3) uint8, one gzip-compressed chunk per image
                        /masks     (n, rows, cols) uint8 bit flags, one bit per notion (dataset.json order)
                        /click_px  (n, 2) float32 (row, col), NaN when the image has no click target
                        /metadata  (n,) UTF-8 JSON strings (zoom, pixel size, omega, seed, source, ...)

An example's metadata may name the maps it labels (``"labelled": ["click"]``, say, for an operator's
click on a frame whose masks nobody drew); without it every notion and the click are labelled. Training
ignores the maps an example does not label (``labelled_channels``).

Each shard holds images of one size. Readers open shards lazily and read one image at a time, so a
``tf.data`` pipeline (``LabelledDataset.tf_dataset``) never loads the whole set into memory.
See docs/dataset-format.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from mxsight.notions import NOTIONS, pack_masks, unpack_masks

FORMAT_NAME = "mxsight-dataset"
FORMAT_VERSION = 1
INDEX_FILE = "dataset.json"


TARGET_CHANNELS = (*NOTIONS, "click")


def labelled_channels(metadata: dict) -> np.ndarray:
    """Which target maps (``TARGET_CHANNELS``) an example's labels cover, from its ``labelled`` list."""
    names = metadata.get("labelled")
    if names is None:
        return np.ones(len(TARGET_CHANNELS), dtype=bool)
    unknown = set(names) - set(TARGET_CHANNELS)
    if unknown:
        raise ValueError(f"labelled names unknown maps {sorted(unknown)}; known: {', '.join(TARGET_CHANNELS)}")
    return np.array([name in names for name in TARGET_CHANNELS])


@dataclass
class Example:
    """One labelled image."""

    image: np.ndarray
    masks: dict[str, np.ndarray]
    click_px: tuple[float, float] | None
    metadata: dict = field(default_factory=dict)


class _Shard:
    """One HDF5 file of images of one size, grown one example at a time."""

    def __init__(self, path: Path, shape: tuple[int, int]):
        self.path = path
        self.shape = shape
        self.count = 0
        self.file = h5py.File(path, "w")
        rows, cols = shape

        def grow(name, tail, dtype, **kwargs):
            return self.file.create_dataset(name, (0, *tail), maxshape=(None, *tail), dtype=dtype, **kwargs)

        compressed = {"compression": "gzip", "compression_opts": 4}
        self.images = grow("images", (rows, cols, 3), np.uint8, chunks=(1, rows, cols, 3), **compressed)
        self.masks = grow("masks", (rows, cols), np.uint8, chunks=(1, rows, cols), **compressed)
        self.clicks = grow("click_px", (2,), np.float32, chunks=(256, 2))
        self.metadata = grow("metadata", (), h5py.string_dtype("utf-8"), chunks=(256,))

    def add(self, example: Example) -> None:
        row = self.count
        for dataset in (self.images, self.masks, self.clicks, self.metadata):
            dataset.resize(row + 1, axis=0)
        self.images[row] = example.image
        self.masks[row] = pack_masks(example.masks)
        self.clicks[row] = example.click_px if example.click_px is not None else (np.nan, np.nan)
        self.metadata[row] = json.dumps(example.metadata, default=_json_default)
        self.count += 1


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"metadata value {value!r} of type {type(value).__name__} is not JSON serialisable")


class DatasetWriter:
    """Appends examples to a new dataset directory; shards are split by image size and ``shard_size``."""

    def __init__(self, directory: Path | str, shard_size: int = 256):
        self.directory = Path(directory)
        if (self.directory / INDEX_FILE).exists():
            raise FileExistsError(f"{self.directory} already holds a dataset; choose a new directory")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.shard_size = shard_size
        self._open: dict[tuple[int, int], _Shard] = {}
        self._closed: list[dict] = []
        self._next_index = 0

    def add(self, example: Example) -> None:
        image = np.asarray(example.image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"images must be (rows, cols, 3) uint8, got {image.shape} {image.dtype}")
        unknown = set(example.masks) - set(NOTIONS)
        if unknown:
            raise ValueError(f"unknown notions {sorted(unknown)}; known notions are {NOTIONS}")
        shape = image.shape[:2]
        for notion, mask in example.masks.items():
            if mask.shape != shape:
                raise ValueError(f"mask {notion!r} is {mask.shape}, the image is {shape}")
        masks = {notion: example.masks.get(notion, np.zeros(shape, bool)) for notion in NOTIONS}
        shard = self._open.get(shape)
        if shard is None:
            shard = _Shard(self.directory / f"shard-{self._next_index:05d}.h5", shape)
            self._next_index += 1
            self._open[shape] = shard
        shard.add(Example(image, masks, example.click_px, example.metadata))
        if shard.count == self.shard_size:
            self._finish(shape)

    def _finish(self, shape: tuple[int, int]) -> None:
        shard = self._open.pop(shape)
        shard.file.close()
        self._closed.append({"file": shard.path.name, "count": shard.count, "shape": list(shape)})

    def close(self) -> Path:
        for shape in list(self._open):
            self._finish(shape)
        shards = sorted(self._closed, key=lambda s: s["file"])
        index = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "notions": list(NOTIONS),
            "count": sum(s["count"] for s in shards),
            "shards": shards,
        }
        (self.directory / INDEX_FILE).write_text(json.dumps(index, indent=2))
        return self.directory

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LabelledDataset:
    """Read access to a dataset directory; examples are read one at a time."""

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)
        index_path = self.directory / INDEX_FILE
        try:
            self.index = json.loads(index_path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{self.directory} is not an mxsight dataset (no {INDEX_FILE})") from None
        if self.index.get("format") != FORMAT_NAME or self.index.get("version") != FORMAT_VERSION:
            raise ValueError(f"{index_path}: expected format {FORMAT_NAME} version {FORMAT_VERSION}, got {self.index.get('format')} {self.index.get('version')}")
        if tuple(self.index["notions"]) != NOTIONS:
            raise ValueError(f"{index_path}: notions {self.index['notions']} differ from this mxsight's {list(NOTIONS)}")
        self._locations = [(s["file"], i) for s in self.index["shards"] for i in range(s["count"])]

    def __len__(self) -> int:
        return len(self._locations)

    def __getitem__(self, position: int) -> Example:
        file, row = self._locations[position]
        with h5py.File(self.directory / file, "r") as handle:
            image = handle["images"][row]
            masks = unpack_masks(handle["masks"][row])
            click = handle["click_px"][row]
            metadata = json.loads(handle["metadata"][row])
        click_px = None if np.isnan(click).any() else (float(click[0]), float(click[1]))
        return Example(image=image, masks=masks, click_px=click_px, metadata=metadata)

    def __iter__(self) -> Iterator[Example]:
        for shard in self.index["shards"]:
            with h5py.File(self.directory / shard["file"], "r") as handle:
                for row in range(shard["count"]):
                    click = handle["click_px"][row]
                    yield Example(
                        image=handle["images"][row],
                        masks=unpack_masks(handle["masks"][row]),
                        click_px=None if np.isnan(click).any() else (float(click[0]), float(click[1])),
                        metadata=json.loads(handle["metadata"][row]),
                    )

    def arrays_by_shape(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """The whole dataset in memory, one (images, packed masks, clicks, labelled channels) tuple per
        image size, read shard by shard in bulk (much faster than one example at a time)."""
        groups: dict[tuple[int, int], list[tuple[np.ndarray, ...]]] = {}
        for shard in self.index["shards"]:
            with h5py.File(self.directory / shard["file"], "r") as handle:
                labelled = np.array([labelled_channels(json.loads(m)) for m in handle["metadata"][:]]).reshape(-1, len(TARGET_CHANNELS))
                groups.setdefault(tuple(shard["shape"]), []).append((handle["images"][:], handle["masks"][:], handle["click_px"][:], labelled))
        return [tuple(np.concatenate(column) for column in zip(*parts)) for parts in groups.values()]

    def tf_dataset(self, shuffle_seed: int | None = None):
        """A ``tf.data.Dataset`` of (image uint8 HxWx3, packed masks uint8 HxW, click float32 [2],
        labelled channels bool [9]), reading one example at a time from the shards."""
        import tensorflow as tf

        order = np.arange(len(self))
        if shuffle_seed is not None:
            np.random.default_rng(shuffle_seed).shuffle(order)

        def generate():
            for position in order:
                file, row = self._locations[position]
                with h5py.File(self.directory / file, "r") as handle:
                    labelled = labelled_channels(json.loads(handle["metadata"][row]))
                    yield handle["images"][row], handle["masks"][row], handle["click_px"][row], labelled

        return tf.data.Dataset.from_generator(
            generate,
            output_signature=(
                tf.TensorSpec(shape=(None, None, 3), dtype=tf.uint8),
                tf.TensorSpec(shape=(None, None), dtype=tf.uint8),
                tf.TensorSpec(shape=(2,), dtype=tf.float32),
                tf.TensorSpec(shape=(len(TARGET_CHANNELS),), dtype=tf.bool),
            ),
        )
