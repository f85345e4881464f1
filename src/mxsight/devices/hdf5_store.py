"""Frames appended to an HDF5 file, announced by bluesky stream resource / stream datum documents.

Devices that produce large arrays (camera frames, mask stacks) write them here instead of putting
megabytes into event documents; Tiled registers the file and serves the frames back by index.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
from event_model import compose_stream_resource
from ophyd.status import Status

DATASET = "/entry/data"
HDF5_MIMETYPE = "application/x-hdf5"


class FrameAnnouncer:
    """The stream resource and stream datum documents for frames in one HDF5 dataset, whoever writes
    the file (this process, or an areaDetector file plugin): ``start`` names the file, ``announce``
    each frame's row, in the order the events that carry them are emitted."""

    def __init__(self, data_key: str, frame_shape: tuple[int, ...], dtype: str | np.dtype):
        self.data_key = data_key
        self.frame_shape = tuple(int(n) for n in frame_shape)
        self.dtype = np.dtype(dtype)
        self._compose_datum = None
        self._pending: list[tuple[str, dict]] = []

    def start(self, path: Path, dataset: str = DATASET) -> None:
        bundle = compose_stream_resource(
            mimetype=HDF5_MIMETYPE,
            uri=f"file://localhost{Path(path).resolve()}",
            data_key=self.data_key,
            parameters={"dataset": dataset, "chunk_shape": (1, *self.frame_shape)},
        )
        self._compose_datum = bundle.compose_stream_datum
        self._pending = [("stream_resource", bundle.stream_resource_doc)]

    def announce(self, index: int) -> None:
        if self._compose_datum is None:
            raise RuntimeError(f"{self.data_key}: stage the device before triggering it (no file is open)")
        self._pending.append(("stream_datum", self._compose_datum(indices={"start": index, "stop": index + 1})))

    def stop(self) -> None:
        self._compose_datum = None

    def collect_asset_docs(self) -> Iterator[tuple[str, dict]]:
        pending, self._pending = self._pending, []
        yield from pending

    def describe(self, source: str) -> dict[str, dict]:
        return {
            self.data_key: {
                "source": source,
                "dtype": "array",
                "dtype_numpy": self.dtype.str,
                "shape": list(self.frame_shape),
                "external": "STREAM:",
            }
        }


class Hdf5FrameStore:
    """One HDF5 file per staging, written by this process; each ``append`` adds one frame and queues
    one stream datum. ``gzip_level`` compresses each frame (HDF5's deflate filter, read back
    transparently by h5py and Tiled): worth it for sparse arrays such as masks, not for noisy camera
    frames."""

    def __init__(self, directory: Path | str, data_key: str, frame_shape: tuple[int, ...], dtype: str | np.dtype, gzip_level: int | None = None):
        if gzip_level is not None and not 0 <= gzip_level <= 9:
            raise ValueError(f"gzip_level must be 0-9 or None, got {gzip_level}")
        self.gzip_level = gzip_level
        self.directory = Path(directory)
        self.announcer = FrameAnnouncer(data_key, frame_shape, dtype)
        self.path: Path | None = None
        self._file: h5py.File | None = None
        self._count = 0

    @property
    def data_key(self) -> str:
        return self.announcer.data_key

    @property
    def frame_shape(self) -> tuple[int, ...]:
        return self.announcer.frame_shape

    @property
    def dtype(self) -> np.dtype:
        return self.announcer.dtype

    @property
    def is_open(self) -> bool:
        return self._file is not None

    def open(self) -> None:
        if self._file is not None:
            raise RuntimeError(f"{self.data_key}: the HDF5 store is already open ({self.path})")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / f"{self.data_key}_{uuid.uuid4().hex}.h5"
        try:
            self._file = h5py.File(self.path, "w", libver="latest")
        except OSError as error:  # h5py's message is long; name the folder and the reason
            reason = os.strerror(error.errno) if error.errno else str(error)
            raise OSError(error.errno, f"{self.data_key}: cannot write frames in {self.directory}: {reason}") from error
        self._file.create_dataset(
            DATASET,
            shape=(0, *self.frame_shape),
            maxshape=(None, *self.frame_shape),
            chunks=(1, *self.frame_shape),
            dtype=self.dtype,
            **({"compression": "gzip", "compression_opts": self.gzip_level} if self.gzip_level is not None else {}),
        )
        self._file.swmr_mode = True
        self.announcer.start(self.path)
        self._count = 0

    def append(self, frame: np.ndarray) -> int:
        """Write one frame, flush it to disk, and queue its stream datum; returns its index."""
        if self._file is None:
            raise RuntimeError(f"{self.data_key}: stage the device before triggering it (no file is open)")
        frame = np.asarray(frame)
        if frame.shape != self.frame_shape or frame.dtype != self.dtype:
            raise ValueError(
                f"{self.data_key}: frame of shape {frame.shape} and dtype {frame.dtype} does not match "
                f"the declared {self.frame_shape} {self.dtype}"
            )
        dataset = self._file[DATASET]
        index = self._count
        dataset.resize(index + 1, axis=0)
        dataset[index] = frame
        dataset.flush()
        self._count += 1
        self.announcer.announce(index)
        return index

    def collect_asset_docs(self) -> Iterator[tuple[str, dict]]:
        yield from self.announcer.collect_asset_docs()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self.announcer.stop()

    def describe(self, source: str) -> dict[str, dict]:
        return self.announcer.describe(source)


def read_frame(uri: str, dataset: str, index: int) -> np.ndarray:
    """Read one frame back from a file named by a stream resource (``file://host/path`` URI)."""
    path = uri.split("://", 1)[1]
    path = path[path.index("/") :]
    with h5py.File(path, "r", libver="latest", swmr=True) as handle:
        return np.asarray(handle[dataset][index])


class Hdf5StoreDevice:
    """Mixin for ophyd devices that write arrays through an ``Hdf5FrameStore`` (``self._store``): the
    file is open while the device is staged, described as external data, and announced to bluesky."""

    _store: Hdf5FrameStore

    def stage(self):
        self._store.open()
        return super().stage()

    def unstage(self):
        self._store.close()
        return super().unstage()

    def describe(self):
        description = super().describe()
        description.update(self._store.describe(source=f"{type(self).__name__}:{self.name}"))
        return description

    def collect_asset_docs(self):
        yield from self._store.collect_asset_docs()

    @staticmethod
    def _finished(obj) -> "Status":
        status = Status(obj=obj)
        status.set_finished()
        return status
