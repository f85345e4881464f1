"""A throwaway Redis server (bluesky-queueserver's RE Manager keeps its queue there)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tiled_process import free_port


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """``redis-server`` on 127.0.0.1 with nothing saved to disk, until the block ends; yields HOST:PORT.
    Raises ``FileNotFoundError`` when Redis is not installed."""
    if shutil.which("redis-server") is None:
        raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)
