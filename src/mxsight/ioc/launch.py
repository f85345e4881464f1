"""Start ``mxsight ioc`` in a child process on a private loopback port, for tests and benchmarks.

Channel Access finds servers by UDP search; :func:`loopback_environment` confines both the IOC and this
process's clients to 127.0.0.1 and one free port, so a test never talks to (or disturbs) a facility's
real IOCs. A CA repeater is started on the port after it, for the IOC's beacons. Channel Access
clients keep the environment they first connected with, so one process serves one beamline at a time.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def free_port_pair() -> int:
    """A port P with P and P + 1 free for TCP and UDP on 127.0.0.1 (server and repeater ports)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port < 65535 and all(_free(port + offset) for offset in (0, 1)):
            return port
    raise RuntimeError("no two consecutive free ports on 127.0.0.1")


def _free(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def loopback_environment(port: int) -> dict[str, str]:
    """``EPICS_CA_*`` / ``EPICS_CAS_*`` settings that keep servers and clients on 127.0.0.1:``port``."""
    return {
        "EPICS_CA_SERVER_PORT": str(port),
        "EPICS_CA_REPEATER_PORT": str(port + 1),
        "EPICS_CA_ADDR_LIST": "127.0.0.1",
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_CAS_INTF_ADDR_LIST": "127.0.0.1",
        "EPICS_CAS_BEACON_ADDR_LIST": "127.0.0.1",
        "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
        "EPICS_CAS_BEACON_PORT": str(port + 1),
    }


@contextlib.contextmanager
def served_beamline(beamline_file: Path | str, log_path: Path | str, *, port: int | None = None) -> Iterator[dict[str, str]]:
    """Serve ``beamline_file`` with ``mxsight ioc`` while the block runs; yields the EPICS environment,
    already set in ``os.environ`` for this process's clients (restored afterwards). The IOC's output
    goes to ``log_path``."""
    environment = loopback_environment(port or free_port_pair())
    child_env = {**os.environ, **environment}
    saved = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)
    port_text = environment["EPICS_CA_REPEATER_PORT"]
    with open(log_path, "w") as log:
        repeater = subprocess.Popen([sys.executable, "-m", "caproto.commandline.repeater", "--quiet"], env={**child_env, "EPICS_CA_REPEATER_PORT": port_text}, stdout=log, stderr=subprocess.STDOUT)
        ioc = subprocess.Popen([sys.executable, "-m", "mxsight.cli", "ioc", "--beamline", str(beamline_file)], env=child_env, stdout=log, stderr=subprocess.STDOUT)
        try:
            time.sleep(0.2)
            if ioc.poll() is not None:
                raise RuntimeError(f"mxsight ioc exited with status {ioc.returncode}: see {log_path}")
            yield environment
        finally:
            for process in (ioc, repeater):
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def load_served_beamline(beamline_file: Path | str, write_directory: Path | str, timeout_s: float = 30.0):
    """The EPICS beamline of ``beamline_file`` once its IOC (just started) answers: loading is retried
    until every PV connects or ``timeout_s`` passes."""
    from mxsight.beamline import load_beamline

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return load_beamline(beamline_file, write_directory)
        except ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)
