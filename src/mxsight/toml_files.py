"""Reading the project's plain TOML configuration files with errors that name the file."""

from __future__ import annotations

import tomllib
from pathlib import Path


def read_toml(path: Path | str, what: str) -> dict:
    """The parsed table of ``path``; a missing or malformed file raises ValueError naming ``what``."""
    try:
        return tomllib.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"cannot read {what} {path}: {error}") from error
