"""Reading devices inside plans through the RunEngine (``bps.rd``), never ``.position`` or ``.get()``.

A plan that asks the RunEngine for values works with any device that follows the bluesky protocols
(ophyd, ophyd-async, a beamline's own), and can be simulated or dry-run without hardware.
"""

from __future__ import annotations

from typing import Literal

import bluesky.plan_stubs as bps

from mxsight.devices.zoom import ZoomCalibration, ZoomLevel
from mxsight.geometry.centring import CentringGeometry
from mxsight.plans.errors import CameraNotCalibrated


def read_position(positioner):
    """A positioner's readback (plan; returns a float)."""
    return float((yield from bps.rd(positioner)))


def read_positions(goniometer, names):
    """Readbacks of the goniometer's motors ``names`` (plan; returns name -> float)."""
    positions = {}
    for name in names:
        positions[name] = yield from read_position(getattr(goniometer, name))
    return positions


def read_limits(motor):
    """A motor's soft limits (low, high) (plan; returns two floats). Motor records and ophyd-async
    motors carry them as ``low_limit_travel`` / ``high_limit_travel`` signals, read through the
    RunEngine; other ophyd positioners as ``limits``. Neither: (0, 0), ophyd's "no limits"."""
    if hasattr(motor, "low_limit_travel") and hasattr(motor, "high_limit_travel"):
        low = yield from bps.rd(motor.low_limit_travel)
        high = yield from bps.rd(motor.high_limit_travel)
        return float(low), float(high)
    low, high = getattr(motor, "limits", (0.0, 0.0))
    return float(low), float(high)


def read_zoom(zoom):
    """The zoom's level and that level's calibration (plan; returns (int, ZoomLevel))."""
    level = int((yield from bps.rd(zoom.level)))
    calibration: ZoomLevel = zoom.calibration[level]
    return level, calibration


def camera_geometry(zoom, geometry: CentringGeometry | None = None, uncalibrated: Literal["refuse", "allow"] = "refuse") -> CentringGeometry:
    """How the camera sees the goniometer, from the zoom's calibration: ``geometry`` when given (it
    must agree with a calibrated orientation), else the calibrated one. Raises
    :class:`CameraNotCalibrated` when the calibration was never measured (``calibrate_camera``), unless
    ``uncalibrated="allow"`` (then ``geometry``, or the file's orientation, or the standard one)."""
    if uncalibrated not in ("refuse", "allow"):
        raise ValueError(f"uncalibrated must be 'refuse' or 'allow', got {uncalibrated!r}")
    calibration: ZoomCalibration = zoom.calibration
    if not calibration.calibrated and uncalibrated == "refuse":
        raise CameraNotCalibrated(
            f"the camera calibration of {zoom.name!r} was never measured: run calibrate_camera (the image axes' signs and "
            "pixel sizes decide which way the motors move), or pass uncalibrated='allow'"
        )
    if geometry is not None and calibration.geometry is not None and geometry != calibration.geometry and uncalibrated == "refuse":
        raise CameraNotCalibrated(f"the geometry given ({geometry}) contradicts the camera's calibration ({calibration.geometry})")
    return geometry or calibration.geometry or CentringGeometry()
