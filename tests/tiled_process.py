"""A Tiled server in its own process (``tiled serve catalog``), for tests that stop it mid-run."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
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
