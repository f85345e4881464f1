"""Reading devices inside plans through the RunEngine (``bps.rd``), never ``.position`` or ``.get()``.

A plan that asks the RunEngine for values works with any device that follows the bluesky protocols
(ophyd, ophyd-async, a beamline's own), and can be simulated or dry-run without hardware.
"""

from __future__ import annotations

import bluesky.plan_stubs as bps

from mxsight.devices.zoom import ZoomLevel


def read_position(positioner):
    """A positioner's readback (plan; returns a float)."""
    return float((yield from bps.rd(positioner)))


def read_positions(goniometer, names):
    """Readbacks of the goniometer's motors ``names`` (plan; returns name -> float)."""
    positions = {}
    for name in names:
        positions[name] = yield from read_position(getattr(goniometer, name))
    return positions


def read_zoom(zoom):
    """The zoom's level and that level's calibration (plan; returns (int, ZoomLevel))."""
    level = int((yield from bps.rd(zoom.level)))
    calibration: ZoomLevel = zoom.calibration[level]
    return level, calibration
