"""Shared fixtures: an embedded Tiled server per test session and a RunEngine writing to it."""

import sqlite3  # noqa: F401  (before TensorFlow: its SQLite lacks FTS5, which Tiled's catalog needs)

from pathlib import Path

import pytest
from bluesky import RunEngine

from mxsight.sim.backgrounds import find_shared_data
from mxsight.storage.tiled import EmbeddedTiled


@pytest.fixture(scope="session")
def tiled(tmp_path_factory):
    server = EmbeddedTiled.start(tmp_path_factory.mktemp("tiled"))
    yield server
    server.close()


@pytest.fixture
def RE(tiled):
    engine = RunEngine({}, call_returns_result=True)
    engine.subscribe(tiled.writer())
    return engine


@pytest.fixture(scope="session")
def shared_data() -> Path:
    folder = find_shared_data(Path(__file__).parent)
    if folder is None:
        pytest.skip("the shared SOLEIL PX2 data (../shared/data/soleil_px2) is not on this machine")
    return folder


@pytest.fixture(scope="session")
def real_root() -> Path:
    """The shared real data folder (../shared/data), with every real frame and empty field."""
    from mxsight.training.real_data import shared_data_root

    found = shared_data_root()
    if found is None:
        pytest.skip("the shared real data (../shared/data beside the repository) is not on this machine")
    return found
