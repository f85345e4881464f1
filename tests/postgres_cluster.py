"""A throwaway PostgreSQL cluster on 127.0.0.1 for tests, from the system's PostgreSQL binaries.

PostgreSQL refuses to run as root: as root (CI), the cluster runs as the ``postgres`` system user
that Debian's package creates. Its role ``mxsight`` is a superuser, trusted on loopback only.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def postgres_bin() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: on PATH or under /usr/lib/postgresql/*/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _ensure_postgres_user() -> None:
    """The ``postgres`` system user (Debian's package makes it; a bare image may lack it)."""
    import pwd

    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"], check=True)


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def postgres_cluster(port: int) -> Iterator[str]:
    """A cluster on 127.0.0.1:``port`` in a new folder of the system's temporary folder (where the
    ``postgres`` user can reach it), removed afterwards; yields its base URI
    ``postgresql://mxsight@127.0.0.1:port``."""
    binaries = postgres_bin()
    if binaries is None:
        raise FileNotFoundError("no PostgreSQL binaries (initdb): install the postgresql package")
    folder = Path(tempfile.mkdtemp(prefix="mxsight-postgres-"))
    if os.geteuid() == 0:
        _ensure_postgres_user()
        shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    subprocess.run(_as_postgres([str(binaries / "initdb"), "-D", str(data), "-U", "mxsight", "--auth=trust", "-E", "UTF8", "--no-sync"]),
                   check=True, capture_output=True)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run(_as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "postgres.log"), "-w", "-t", "60", "-o", options, "start"]),
                   check=True, capture_output=True)
    try:
        yield f"postgresql://mxsight@127.0.0.1:{port}"
    finally:
        subprocess.run(_as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
