"""The on-axis microscope's zoom: a level plus its calibration (micrometres per pixel, beam position).

The calibration file also says how the camera sees the goniometer (``[camera]``: which image axis the
spindle runs along and the signs of both image axes) and whether that was ever measured
(``calibrated``: written by ``calibrate_camera``); plans refuse to align on a camera never calibrated.

``Zoom`` holds the level in software (the simulated beamline moves its optics from it); ``EpicsZoom``
moves real optics through a motor record and changes the calibration only once they have arrived.
"""

from __future__ import annotations

import threading
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ophyd import Component as Cpt
from ophyd import Device, EpicsMotor, Kind, Signal
from ophyd.status import Status
from ophyd.utils.errors import DisconnectedError

from mxsight.devices.zoom_file import validate_zoom_table
from mxsight.geometry.centring import CentringGeometry
from mxsight.sim.clock import REAL_TIME
from mxsight.toml_files import read_toml


@dataclass(frozen=True)
class ZoomLevel:
    pixel_size_um: float
    beam_position_px: tuple[float, float]
    # the rotation axis's image coordinate across the spindle, as calibrate_camera measured it
    rotation_axis_px: float | None = None


@dataclass(frozen=True)
class ZoomCalibration:
    """Calibration per zoom level, loaded from a plain TOML file (see ``config/zoom_sim.toml``), with
    the camera's orientation (``geometry``) and where the calibration came from (``calibrated``; empty:
    never measured)."""

    levels: dict[int, ZoomLevel]
    geometry: CentringGeometry | None = None
    calibrated: str = ""

    @classmethod
    def from_file(cls, path: Path | str) -> "ZoomCalibration":
        return cls.from_table(read_toml(path, "zoom calibration"), source=str(path))

    @classmethod
    def from_table(cls, table: dict, source: str = "table") -> "ZoomCalibration":
        """The calibration a parsed file holds, checked against its schema (``devices/zoom_file.py``)."""
        checked = validate_zoom_table(table, source)
        levels = {
            key: ZoomLevel(level.pixel_size_um, (level.beam_position_px[0], level.beam_position_px[1]), level.rotation_axis_px)
            for key, level in checked.levels.items()
        }
        camera = checked.camera
        geometry = None
        if camera is not None and camera.spindle is not None:
            geometry = CentringGeometry(
                spindle=camera.spindle, perpendicular_sign=float(camera.perpendicular_sign), along_sign=float(camera.along_sign)
            )
        return cls(levels, geometry=geometry, calibrated=camera.calibrated if camera is not None else "")

    def to_toml(self, header: str = "") -> str:
        """The calibration as the TOML text :meth:`from_table` reads."""
        lines = [f"# {line}" for line in header.splitlines()]
        if self.geometry is not None or self.calibrated:
            lines.append("[camera]")
            if self.calibrated:
                lines.append(f"calibrated = {_toml_string(self.calibrated)}")
            if self.geometry is not None:
                lines += [
                    f'spindle = "{self.geometry.spindle}"',
                    f"perpendicular_sign = {int(self.geometry.perpendicular_sign)}",
                    f"along_sign = {int(self.geometry.along_sign)}",
                ]
        for key in sorted(self.levels):
            level = self.levels[key]
            lines += [f"[levels.{key}]", f"pixel_size_um = {level.pixel_size_um:.6g}",
                      f"beam_position_px = [{level.beam_position_px[0]:.6g}, {level.beam_position_px[1]:.6g}]"]
            if level.rotation_axis_px is not None:
                lines.append(f"rotation_axis_px = {level.rotation_axis_px:.6g}")
        return "\n".join(lines) + "\n"

    @classmethod
    def simulated(cls) -> "ZoomCalibration":
        text = resources.files("mxsight").joinpath("config/zoom_sim.toml").read_text()
        return cls.from_table(tomllib.loads(text), source="mxsight/config/zoom_sim.toml")

    def __getitem__(self, level: int) -> ZoomLevel:
        try:
            return self.levels[int(level)]
        except KeyError:
            raise ValueError(f"zoom level {level} is not calibrated; known levels are {sorted(self.levels)}") from None


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Zoom(Device):
    """Zoom level and its calibration; ``set(level)`` changes the level and the calibration signals."""

    level = Cpt(Signal, value=1, kind=Kind.hinted)
    pixel_size_um = Cpt(Signal, value=0.0, kind=Kind.config)
    beam_position_row_px = Cpt(Signal, value=0.0, kind=Kind.config)
    beam_position_col_px = Cpt(Signal, value=0.0, kind=Kind.config)

    def __init__(self, *args, calibration: ZoomCalibration, initial_level: int = 1, seconds_per_level: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.calibration = calibration
        self.seconds_per_level = seconds_per_level
        self.clock = REAL_TIME
        self._apply(initial_level)

    def _apply(self, level: int) -> None:
        entry = self.calibration[level]
        self.level.put(int(level))
        self.pixel_size_um.put(entry.pixel_size_um)
        self.beam_position_row_px.put(entry.beam_position_px[0])
        self.beam_position_col_px.put(entry.beam_position_px[1])

    def set(self, level: int) -> Status:
        """Change the level; with ``seconds_per_level`` set (a simulated zoom with realistic motion),
        the optics take that long per level and the calibration changes when they arrive."""
        self.calibration[level]
        status = Status(obj=self)
        duration = abs(int(level) - int(self.level.get())) * self.seconds_per_level
        if duration <= 0:
            self._apply(level)
            status.set_finished()
            return status

        arrival = self.clock.now() + duration

        def arrive() -> None:
            self.clock.sleep_until(arrival)
            self._apply(level)
            status.set_finished()

        threading.Thread(target=arrive, daemon=True, name=f"{self.name}-move").start()
        return status

    def use_calibration(self, calibration: ZoomCalibration) -> None:
        """Take a new calibration (``calibrate_camera``'s) for the level the zoom is at and every later one."""
        self.calibration = calibration
        self._apply(int(self.level.get()))

    @property
    def current(self) -> ZoomLevel:
        return self.calibration[self.level.get()]


class EpicsZoom(Zoom):
    """A zoom whose optics move: ``{prefix}`` is a motor record whose position is the zoom level.

    ``set(level)`` moves the optics and completes when they have arrived; only then do ``level`` and the
    calibration signals change, so a plan never pairs a frame with the calibration of another level.
    The level also follows the readback when the zoom is moved from elsewhere (the beamline's GUI).
    """

    positioner = Cpt(EpicsMotor, "", kind=Kind.omitted)

    def __init__(self, prefix: str, *, calibration: ZoomCalibration, **kwargs):
        super().__init__(prefix, calibration=calibration, initial_level=min(calibration.levels), **kwargs)
        self.positioner.user_readback.subscribe(self._follow_readback, run=False)

    def _follow_readback(self, *, value=None, **_) -> None:
        try:
            if value is None or self.positioner.moving:
                return
        except DisconnectedError:
            return  # the readback connected before the rest: wait_for_connection catches up
        level = int(round(float(value)))
        if abs(float(value) - level) < 0.01 and level in self.calibration.levels and level != self.level.get():
            self._apply(level)

    def wait_for_connection(self, *args, **kwargs):
        super().wait_for_connection(*args, **kwargs)
        self._follow_readback(value=self.positioner.user_readback.get())

    def set(self, level: int) -> Status:
        self.calibration[level]  # a named error for an uncalibrated level, before anything moves
        status = Status(obj=self)
        motion = self.positioner.set(float(level))

        def arrived(motion_status) -> None:
            if not motion_status.success:
                status.set_exception(motion_status.exception() or RuntimeError(f"{self.name}: the zoom did not reach level {level}"))
                return
            self._apply(level)
            status.set_finished()

        motion.add_callback(arrived)
        return status
