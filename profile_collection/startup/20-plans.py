"""mxsight start-up, 3 of 5: the plans and the questions to ask of what was recorded."""

import functools

from mxsight.plans.auto_centre import auto_centre as _auto_centre
from mxsight.plans.calibrate_camera import calibrate_camera, save_camera_calibration  # noqa: F401
from mxsight.plans.click_centre import click_centre  # noqa: F401
from mxsight.plans.empty_fields import record_empty_fields  # noqa: F401
from mxsight.plans.multi_orientation import Orientation, load_orientations, multi_orientation_collection  # noqa: F401
from mxsight.plans.raster_extents import raster_extents  # noqa: F401
from mxsight.plans.sweeps import COARSE_SWEEP, FINE_SWEEP, Sweep  # noqa: F401
from mxsight.storage.empty_fields import load_empty_fields  # noqa: F401
from mxsight.storage.queries import alignments_table, find_alignments, find_collection_group, read_alignment  # noqa: F401
from mxsight.storage.review import review_run  # noqa: F401

# auto_centre with this beamline's sweeps and confidence limits ([alignment] in its beamline file)
auto_centre = functools.partial(_auto_centre, sweeps=beamline.sweeps)  # noqa: F821  (beamline: 10-beamline.py)
