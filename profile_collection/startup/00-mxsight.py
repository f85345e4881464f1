"""IPython start-up for mxsight: RunEngine, embedded Tiled with TiledWriter, simulated beamline, plans.

Start with ``ipython --profile-dir=profile_collection``. ``MXSIGHT_DATA`` chooses the Tiled directory
(default ./mxsight-data); ``MXSIGHT_SEED`` the simulated sample. A real beamline replaces the simulated
devices with its own (``mxsight.devices.goniometer.Goniometer`` and friends) and keeps the rest.
"""

import sqlite3  # noqa: F401  (before TensorFlow, see mxsight/__init__)

import atexit
import os

from bluesky import RunEngine
from bluesky.callbacks.best_effort import BestEffortCallback

from mxsight.devices.sim import make_sim_beamline
from mxsight.plans.auto_centre import auto_centre  # noqa: F401  (for the user)
from mxsight.storage.queries import find_alignments  # noqa: F401  (for the user)
from mxsight.storage.tiled import EmbeddedTiled

tiled = EmbeddedTiled.start(os.environ.get("MXSIGHT_DATA", "mxsight-data"))
atexit.register(tiled.close)
catalog = tiled.client

RE = RunEngine({}, call_returns_result=True)
RE.subscribe(tiled.writer())
bec = BestEffortCallback()
bec.disable_plots()
RE.subscribe(bec)

beamline = make_sim_beamline(seed=int(os.environ.get("MXSIGHT_SEED", "0")), write_directory=tiled.frames_directory)
camera, gonio, zoom = beamline.camera, beamline.goniometer, beamline.zoom

print(f"mxsight ready: RE(auto_centre(camera, gonio, zoom, sample_id='...')); Tiled at {tiled.uri}")
