"""Tiled servers in their own processes: plain ``tiled serve catalog`` (for tests that stop it mid-run)
and ``mxsight tiled serve`` on a throwaway PostgreSQL cluster."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def tiled_process(directory: Path, frames: Path, api_key: str, port: int, *, init: bool) -> Iterator[subprocess.Popen]:
    """Serve the catalog in ``directory`` (created with ``init``) on 127.0.0.1:``port``, reading the
    frames under ``frames``; yields the process once the server answers; stops it on leaving."""
    (directory / "data").mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "tiled", "serve", "catalog", str(directory / "catalog.db"),
        "-w", str(directory / "data"), "-w", f"duckdb:///{directory / 'storage.duckdb'}", "-r", str(frames),
        "--api-key", api_key, "--host", "127.0.0.1", "--port", str(port),
    ] + (["--init"] if init else [])
    with open(directory / "server.log", "a") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tiled serve did not start: see {directory / 'server.log'}")
            time.sleep(0.2)
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


@dataclass
class ServedTiled:
    """A running ``mxsight tiled serve``: its address, keys, keys file, folders and catalog database."""

    address: str
    keys: object  # mxsight.storage.tiled_keys.TiledKeys
    keys_file: Path
    data_dir: Path
    output: Path
    database: str  # postgresql://USER@HOST:PORT/NAME of the catalog

    @property
    def frames_directory(self) -> Path:
        return self.data_dir / "frames"


@contextlib.contextmanager
def mxsight_tiled_server(folder: Path, workers: int = 2) -> Iterator[ServedTiled]:
    """``mxsight tiled serve`` with its catalog on a new PostgreSQL cluster, until the block ends."""
    from postgres_cluster import postgres_cluster

    from mxsight.storage.tiled_keys import read_keys

    keys_file, port, output = folder / "keys" / "tiled-keys.toml", free_port(), folder / "serve.out"
    with postgres_cluster(free_port()) as postgres:
        command = [sys.executable, "-m", "mxsight.cli", "tiled", "serve", "--database", f"{postgres}/mxsight", "--data-dir", str(folder / "server"),
                   "--port", str(port), "--workers", str(workers), "--keys", str(keys_file)]
        with open(output, "w") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while not _answers(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mxsight tiled serve did not start: {output.read_text()[-3000:]}")
                time.sleep(0.3)
            yield ServedTiled(f"http://127.0.0.1:{port}/api/v1", read_keys(keys_file), keys_file, folder / "server", output, f"{postgres}/mxsight")
        finally:
            process.terminate()
            process.wait(timeout=30)


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
