"""mxsight start-up, 1 of 5: the RunEngine, the embedded Tiled server with its writer, a live table and
progress bars.

Start with ``mxsight shell`` or ``ipython --profile-dir=profile_collection``. Environment:
``MXSIGHT_DATA`` the Tiled directory (default ./mxsight-data), ``MXSIGHT_BEAMLINE`` a beamline TOML file
(default: the simulated beamline, see ``mxsight.beamline``), ``MXSIGHT_SEED`` the simulated sample.
"""

import sqlite3  # noqa: F401  (before TensorFlow, see mxsight/__init__)

import atexit
import os

from bluesky import RunEngine
from bluesky.callbacks.best_effort import BestEffortCallback
from bluesky.utils import ProgressBarManager

from mxsight.storage.tiled import EmbeddedTiled

tiled = EmbeddedTiled.start(os.environ.get("MXSIGHT_DATA", "mxsight-data"))
atexit.register(tiled.close)
catalog = tiled.client

RE = RunEngine({}, call_returns_result=True)
RE.subscribe(tiled.writer())
bec = BestEffortCallback()
bec.disable_plots()
RE.subscribe(bec)
RE.waiting_hook = ProgressBarManager()
