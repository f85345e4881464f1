"""The API keys of an mxsight Tiled server: one that writes (the RunEngine), one that only reads.

``mxsight tiled serve`` creates them on first start in a private file (``~/.config/mxsight/tiled-keys.toml``,
mode 0600, or ``$MXSIGHT_TILED_KEYS``), and ``mxsight`` commands on the same host read them from there
by default; ``TILED_API_KEY`` overrides the file. Keys never go in URLs, logs or printed lines: what is
shown is :func:`key_hint`, the file they are in.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mxsight.toml_files import read_toml

KEYS_FILE_VARIABLE = "MXSIGHT_TILED_KEYS"
Access = Literal["read", "write"]


@dataclass(frozen=True)
class TiledKeys:
    """Hex secrets: ``write`` and ``read`` API keys, and ``session_secret`` signing the server's tokens."""

    write: str
    read: str
    session_secret: str

    def for_access(self, access: Access) -> str:
        return self.write if access == "write" else self.read


def keys_file() -> Path:
    """Where this host keeps the keys: ``$MXSIGHT_TILED_KEYS``, else ``~/.config/mxsight/tiled-keys.toml``."""
    configured = os.environ.get(KEYS_FILE_VARIABLE)
    if configured:
        return Path(configured)
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "mxsight" / "tiled-keys.toml"


def key_hint(path: Path | None = None) -> str:
    return f"keys in {path or keys_file()}"


def read_keys(path: Path | None = None) -> TiledKeys | None:
    """The keys in ``path`` (default :func:`keys_file`), or None when there is no such file. A file
    others may read is refused: the keys would not be secret."""
    path = Path(path or keys_file())
    if not path.exists():
        return None
    if path.stat().st_mode & 0o077:
        raise PermissionError(f"{path} is readable by others: chmod 600 {path} (the Tiled keys must be private)")
    table = read_toml(path, "Tiled keys file")
    try:
        return TiledKeys(write=str(table["write_key"]), read=str(table["read_key"]), session_secret=str(table["session_secret"]))
    except KeyError as missing:
        raise ValueError(f"{path}: no {missing.args[0]} (delete the file to have mxsight tiled serve make new keys)") from None


def create_keys(path: Path | None = None) -> TiledKeys:
    """The keys in ``path``, made (random, 256 bits each) and written privately if there are none."""
    path = Path(path or keys_file())
    existing = read_keys(path)
    if existing is not None:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    keys = TiledKeys(write=secrets.token_hex(32), read=secrets.token_hex(32), session_secret=secrets.token_hex(32))
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(
            "# mxsight Tiled server keys: keep private (mode 0600)\n"
            f'write_key = "{keys.write}"\nread_key = "{keys.read}"\nsession_secret = "{keys.session_secret}"\n'
        )
    return keys


def api_key(access: Access, path: Path | None = None) -> str | None:
    """The key a client on this host uses: ``TILED_API_KEY``, else the keys file's key for ``access``."""
    if os.environ.get("TILED_API_KEY"):
        return os.environ["TILED_API_KEY"]
    keys = read_keys(path)
    return keys.for_access(access) if keys is not None else None
