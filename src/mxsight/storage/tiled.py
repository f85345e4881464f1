"""Embedded Tiled server (SQLite catalog + files in one directory) wired to bluesky's ``TiledWriter``.

Frames and masks stay in the HDF5 files the devices write under ``<directory>/frames``; the server is
allowed to read them there and registers them as external data, so nothing large travels inline.
"""

from __future__ import annotations

import sqlite3  # noqa: F401  (before any TensorFlow import: TF's SQLite lacks FTS5, see mxsight/__init__)
import contextlib
import logging
import logging.config
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from bluesky_tiled_plugins import TiledWriter
from tiled.client import from_uri
from tiled.server import SimpleTiledServer
from tiled.server.logging_config import LOGGING_CONFIG

from mxsight.storage.run_metadata import METADATA_DOCUMENTS, finite_json, write_summary
from mxsight.storage.run_summary import RunSummary
from mxsight.storage.tiled_client import connect, public_address  # noqa: F401  (re-exported)
from mxsight.storage.spool import SpoolingWriter


# Tiled keeps server settings process-wide: a second embedded server started with another API key
# makes the first one reject its own clients (401). All embedded servers of a process share one key.
PROCESS_API_KEY = secrets.token_hex(16)


@contextlib.contextmanager
def _keeping_the_process_logging_handlers():
    """Start a server without closing the process's logging handlers.

    ``SimpleTiledServer`` gives uvicorn a logging config (``LOGGING_CONFIG``) that is not incremental,
    and ``logging.config.dictConfig`` closes every handler of the process before it applies such a
    config (``logging.config._clearExistingHandlers``): starting the server in a beamline session would
    close the session's log files (on Python >= 3.12 a file opened with mode "w" is never reopened, and
    its records are lost). The config sets up Tiled's and uvicorn's own loggers only, so clearing is
    left out; the handlers it detaches from them (a previous embedded server's) are closed here."""
    own = [logging.getLogger(name) for name in LOGGING_CONFIG["loggers"]]
    before = {handler for logger in own for handler in logger.handlers}
    clear = logging.config._clearExistingHandlers
    logging.config._clearExistingHandlers = lambda: None
    try:
        yield
    finally:
        logging.config._clearExistingHandlers = clear
        for handler in before - {handler for logger in own for handler in logger.handlers}:
            handler.close()


@dataclass
class EmbeddedTiled:
    """A running embedded Tiled server, its client, and the directory devices should write frames to."""

    server: SimpleTiledServer
    client: object
    directory: Path
    closed: bool = False
    lock: object = None  # the open lock file that keeps other processes out of ``directory``

    @property
    def frames_directory(self) -> Path:
        return self.directory / "frames"

    @property
    def uri(self) -> str:
        """The server's address with its API key: for clients of this process, never to print."""
        return self.server.uri

    @property
    def address(self) -> str:
        """The server's address without the key, for messages and logs."""
        return public_address(self.server.uri)

    @property
    def spool_directory(self) -> Path:
        return self.directory / "spool"

    @classmethod
    def start(cls, directory: Path | str) -> "EmbeddedTiled":
        """Start (or reopen) the server whose catalog and files live in ``directory``."""
        directory = Path(directory).resolve()
        for folder in (directory, directory / "frames"):  # private: frames, catalog and logs
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(folder, 0o700)
        lock = _lock_data_folder(directory)
        with _keeping_the_process_logging_handlers():
            server = SimpleTiledServer(directory=directory, api_key=PROCESS_API_KEY, readable_storage=[directory / "frames"])
        for log in directory.glob("*.log"):
            os.chmod(log, 0o600)
        client = from_uri(public_address(server.uri), api_key=PROCESS_API_KEY)  # the key in a header, never in a logged URL
        embedded = cls(server=server, client=client, directory=directory, lock=lock)
        threading.Thread(target=embedded._close_after_main_thread, name="tiled-closer", daemon=True).start()
        return embedded

    def _close_after_main_thread(self) -> None:
        """Stop the server once the main thread is done: its (non-daemon) thread would otherwise keep
        the interpreter from exiting (an IPython session, a script that forgets ``close()``), since
        Python joins such threads before it runs ``atexit`` handlers."""
        threading.main_thread().join()
        self.close()

    def writer(self) -> SpoolingWriter:
        """The callback to subscribe to a RunEngine: ``RE.subscribe(tiled.writer())``; every document is
        spooled in ``spool_directory`` before it is written to Tiled (:mod:`mxsight.storage.spool`)."""
        return spooling_writer(self.client, self.spool_directory, self.address)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.server.close()
            if self.lock is not None:
                self.lock.close()  # releases the lock

    def __enter__(self) -> "EmbeddedTiled":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class RemoteTiled:
    """A Tiled server elsewhere, written to as :class:`EmbeddedTiled` is: frames and the spool in the
    local ``directory`` (the server must be allowed to read ``directory/frames``)."""

    client: object
    directory: Path
    address: str

    @classmethod
    def connect(cls, uri: str, directory: Path | str, api_key: str | None = None) -> "RemoteTiled":
        """``uri`` without a key; the key from ``api_key``, ``TILED_API_KEY`` or this host's keys file (write key)."""
        directory = Path(directory).resolve()
        (directory / "frames").mkdir(parents=True, exist_ok=True, mode=0o700)
        return cls(client=connect(uri, api_key, access="write"), directory=directory, address=public_address(uri))

    frames_directory = EmbeddedTiled.frames_directory
    spool_directory = EmbeddedTiled.spool_directory

    def writer(self) -> SpoolingWriter:
        return spooling_writer(self.client, self.spool_directory, self.address)

    def close(self) -> None:
        pass


class SummarisingWriter:
    """bluesky-tiled-plugins' ``TiledWriter`` plus each run's :class:`RunSummary`, written into the run's
    metadata (``summary``) once the writer has recorded the stop document. Subscribe it to a RunEngine
    in place of a bare ``TiledWriter``, with any Tiled client that may write."""

    def __init__(self, client) -> None:
        self.client = client
        self.tiled_writer = TiledWriter(client)
        self.run_summary = RunSummary()

    def __call__(self, name: str, doc: dict) -> None:
        if name in METADATA_DOCUMENTS:
            doc = finite_json(doc)
        self.tiled_writer(name, doc)
        self.run_summary(name, doc)
        if name == "stop":
            write_summary(self.client, doc["run_start"], self.run_summary.summary(doc))


class DataFolderInUse(OSError):
    """Another process serves this data folder: its embedded catalog takes one process at a time."""


def _lock_data_folder(directory: Path):
    """Hold ``directory/.lock`` for this process, or name the process that holds it. An embedded
    catalog (SQLite + DuckDB files) is not made for two processes writing at once; several RunEngines
    share a Tiled server instead."""
    import fcntl

    handle = open(directory / ".lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise DataFolderInUse(f"the data folder {directory} is in use by {holder}; stop it, or let several processes write to one Tiled server (--tiled URI)") from None
    handle.truncate(0)
    handle.write(f"process {os.getpid()}")
    handle.flush()
    return handle


def spooling_writer(client, spool: Path | str, address: str, **options) -> SpoolingWriter:
    """The RunEngine's Tiled callback: documents spooled in ``spool``, then written by a
    :class:`SummarisingWriter` on ``client`` (a fresh one per run)."""
    with_sources: list = []  # the client with data sources, fetched once (each TiledWriter would fetch it
                             # again), in the writing thread, where a failure keeps the run for replay

    def make_writer() -> SummarisingWriter:
        if not with_sources:
            with_sources.append(client.include_data_sources())
        return SummarisingWriter(with_sources[0])

    return SpoolingWriter(make_writer, spool, uri=address, **options)
