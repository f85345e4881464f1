"""From measured image shifts to the camera's calibration: micrometres per pixel, which image axis the
spindle runs along, the signs of both image axes, and the rotation axis's place in the image.

The movement model (:mod:`mxsight.geometry.centring`) says what a motor step must do to the image:
alignment y moves the sample along the spindle by ``s_h * step / pixel_size``; at omega ``w`` the
centring motors move it across the spindle by ``-s_v * cos(w) * step / pixel_size`` (centring x) and
``+s_v * sin(w) * step / pixel_size`` (centring y), and not along it. :func:`level_calibration` reads
``s_h``, ``s_v``, the spindle's image axis and the pixel size from the measured shifts, and refuses
(``CalibrationFailed``) when the shifts do not fit that model: a camera turned by an angle that is not a
multiple of 90 degrees, non-square pixels, an omega that turns the other way, or a correlation that
locked onto something else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mxsight.geometry.centring import CentringGeometry


class CalibrationFailed(ValueError):
    """The measured image shifts do not fit the movement model: nothing is written."""


@dataclass(frozen=True)
class CalibrationTolerances:
    """How far measured shifts may stray from the model before the calibration is refused."""

    max_axis_angle_deg: float = 1.5  # a motor's image shift off its image axis
    max_omega_angle_deg: float = 5.0  # the centring motors' shifts against cos/sin of omega
    max_pixel_size_mismatch: float = 0.02  # along against across the spindle (square pixels)
    max_along_shift_on_rotation_px: float = 2.0  # half a turn must not move the sample along the spindle


@dataclass(frozen=True)
class LevelShifts:
    """What ``calibrate_camera`` measured at one zoom level: image shifts (rows, columns) per step of
    ``along_step_mm`` (alignment y) and ``centring_step_mm`` (centring x, centring y, at ``omega_deg``)."""

    level: int
    omega_deg: float
    along_step_mm: float
    along_shift_px: tuple[float, float]
    centring_step_mm: float
    centring_x_shift_px: tuple[float, float]
    centring_y_shift_px: tuple[float, float]


@dataclass(frozen=True)
class LevelCalibration:
    level: int
    geometry: CentringGeometry
    pixel_size_um: float
    pixel_size_along_um: float
    pixel_size_across_um: float
    omega_angle_error_deg: float


def _axis(vector: tuple[float, float]) -> tuple[int, float, float]:
    """The image axis (0 rows, 1 columns) a shift runs along, its signed length there, and its angle
    off that axis in degrees."""
    rows, cols = vector
    axis = 0 if abs(rows) >= abs(cols) else 1
    major, minor = (rows, cols) if axis == 0 else (cols, rows)
    return axis, float(major), float(np.degrees(np.arctan2(abs(minor), abs(major))))


def level_calibration(shifts: LevelShifts, tolerances: CalibrationTolerances = CalibrationTolerances()) -> LevelCalibration:
    """The camera's orientation and pixel size at one level, from its measured shifts."""
    where = f"zoom level {shifts.level}"
    along_axis, along_px, along_angle = _axis(shifts.along_shift_px)
    if along_angle > tolerances.max_axis_angle_deg:
        raise CalibrationFailed(
            f"{where}: alignment y moves the image {along_angle:.1f} deg off the image's {'rows' if along_axis == 1 else 'columns'} "
            f"(at most {tolerances.max_axis_angle_deg} deg): is the camera turned by an odd angle, or did the sample leave the view?"
        )
    across_axis = 1 - along_axis
    cx, cy = np.asarray(shifts.centring_x_shift_px, float), np.asarray(shifts.centring_y_shift_px, float)
    across = np.array([cx[across_axis], cy[across_axis]])
    off_axis = np.hypot(cx[along_axis], cy[along_axis])
    across_length = float(np.hypot(*across))
    across_angle = float(np.degrees(np.arctan2(off_axis, across_length)))
    if across_angle > tolerances.max_axis_angle_deg:
        raise CalibrationFailed(f"{where}: the centring motors move the image {across_angle:.1f} deg off the axis across the spindle")
    omega = np.radians(shifts.omega_deg)
    expected = np.array([-np.cos(omega), np.sin(omega)])  # per s_v = +1
    sign = 1.0 if float(across @ expected) >= 0 else -1.0
    omega_error = float(np.degrees(np.arccos(np.clip(sign * (across @ expected) / max(across_length, 1e-12), -1.0, 1.0))))
    if omega_error > tolerances.max_omega_angle_deg:
        raise CalibrationFailed(
            f"{where}: the centring motors' shifts point {omega_error:.0f} deg away from what omega {shifts.omega_deg:.1f} deg predicts: "
            "check the sense of omega and the centring motors' signs"
        )
    pixel_along = 1000.0 * shifts.along_step_mm / abs(along_px)
    pixel_across = 1000.0 * shifts.centring_step_mm / across_length
    mismatch = abs(pixel_along - pixel_across) / min(pixel_along, pixel_across)
    if mismatch > tolerances.max_pixel_size_mismatch:
        raise CalibrationFailed(
            f"{where}: {pixel_along:.4f} um per pixel along the spindle but {pixel_across:.4f} across it: the shifts were not measured "
            "cleanly (did the sample leave the view?) or the pixels are not square"
        )
    geometry = CentringGeometry(
        spindle="horizontal" if along_axis == 1 else "vertical",
        perpendicular_sign=sign,
        along_sign=1.0 if along_px > 0 else -1.0,
    )
    return LevelCalibration(shifts.level, geometry, (pixel_along + pixel_across) / 2.0, pixel_along, pixel_across, omega_error)


def common_geometry(levels: list[LevelCalibration]) -> CentringGeometry:
    """The camera's orientation, which must be the same at every level."""
    if not levels:
        raise CalibrationFailed("no zoom level was measured")
    geometries = {level.geometry for level in levels}
    if len(geometries) > 1:
        found = ", ".join(f"level {level.level}: {level.geometry}" for level in levels)
        raise CalibrationFailed(f"the camera's orientation differs between zoom levels ({found})")
    return levels[0].geometry
