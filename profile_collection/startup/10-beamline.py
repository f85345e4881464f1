"""mxsight start-up, 2 of 5: the beamline's devices, from ``MXSIGHT_BEAMLINE`` (simulated by default;
``MXSIGHT_SEED`` picks the simulated sample when no file is given)."""

import os

from mxsight.beamline import load_beamline, simulated_config

_config = os.environ.get("MXSIGHT_BEAMLINE") or simulated_config(seed=int(os.environ.get("MXSIGHT_SEED", "0")))
beamline = load_beamline(_config, tiled.frames_directory)  # noqa: F821  (tiled: 00-base.py)
camera, gonio, zoom, detector = beamline.camera, beamline.goniometer, beamline.zoom, beamline.detector
sample_changer = beamline.sample_changer
RE.md["beamline"] = beamline.name  # noqa: F821  (RE: 00-base.py) recorded in every run's start document
