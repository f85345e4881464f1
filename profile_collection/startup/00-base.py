"""mxsight start-up, 1 of 5: the RunEngine, the embedded Tiled server with its writer, a live table and
progress bars.

Start with ``mxsight shell`` or ``ipython --profile-dir=profile_collection``. Environment:
``MXSIGHT_DATA`` the data folder: embedded Tiled, frames, spool (default ./mxsight-data), ``MXSIGHT_TILED``
a Tiled server's address to write to instead of the embedded one (key: ``TILED_API_KEY`` or the host's
keys file), ``MXSIGHT_BEAMLINE`` a beamline TOML file
(default: the simulated beamline, see ``mxsight.beamline``), ``MXSIGHT_SEED`` the simulated sample.
"""

import sqlite3  # noqa: F401  (before TensorFlow, see mxsight/__init__)

import atexit
import os

from bluesky import RunEngine
from bluesky.callbacks.best_effort import BestEffortCallback
from bluesky.utils import ProgressBarManager

from mxsight.storage.tiled import EmbeddedTiled, RemoteTiled

if os.environ.get("MXSIGHT_TILED"):  # a Tiled server (mxsight tiled serve), written with this host's write key
    tiled = RemoteTiled.connect(os.environ["MXSIGHT_TILED"], os.environ.get("MXSIGHT_DATA", "mxsight-data"))
else:
    tiled = EmbeddedTiled.start(os.environ.get("MXSIGHT_DATA", "mxsight-data"))
atexit.register(tiled.close)
catalog = tiled.client

RE = RunEngine({}, call_returns_result=True)
RE.subscribe(tiled.writer())
bec = BestEffortCallback()
bec.disable_plots()
RE.subscribe(bec)
RE.waiting_hook = ProgressBarManager()
