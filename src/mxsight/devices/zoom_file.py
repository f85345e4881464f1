"""The zoom calibration file's schema (``ZoomCalibration.from_file`` reads it, ``to_toml`` writes it):

    [camera]                        # optional: how the camera sees the goniometer (calibrate_camera)
    calibrated = "..."              # which calibrate_camera run measured it ("": never)
    spindle = "horizontal"          # or "vertical": the image axis the spindle runs along
    perpendicular_sign = 1          # or -1
    along_sign = 1                  # or -1

    [levels.5]                      # one table per zoom level (an integer >= 0)
    pixel_size_um = 1.80            # micrometres per pixel at the sample, > 0
    beam_position_px = [512.0, 680.0]   # the beam's (row, column), finite
    rotation_axis_px = 511.2        # optional: the rotation axis across the spindle, as measured

A wrong value is a one-line ValueError naming the file, the table and the key (:mod:`mxsight.file_schema`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, Strict

from mxsight.file_schema import FiniteFloat, PositiveFloat, Table, validated

Sign = Literal[1, -1]


class CameraTable(Table):
    """``[camera]``: the camera's orientation; signs without ``spindle`` mean nothing was measured."""

    calibrated: Annotated[str, Strict()] = ""
    spindle: Literal["horizontal", "vertical"] | None = None
    perpendicular_sign: Sign = 1
    along_sign: Sign = 1


class LevelTable(Table):
    """``[levels.N]``: one zoom level's optics."""

    pixel_size_um: PositiveFloat
    beam_position_px: Annotated[list[FiniteFloat], Field(min_length=2, max_length=2)]
    rotation_axis_px: FiniteFloat | None = None


class ZoomCalibrationFile(Table):
    """A whole zoom calibration file: at least one level."""

    camera: CameraTable | None = None
    levels: Annotated[dict[Annotated[int, Strict(False), Field(ge=0)], LevelTable], Field(min_length=1)]


def validate_zoom_table(table: dict, source: str) -> ZoomCalibrationFile:
    """``table`` (a parsed zoom calibration file) checked; ValueError naming ``source`` otherwise."""
    return validated(ZoomCalibrationFile, table, source)
