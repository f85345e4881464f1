"""The on-axis microscope's zoom: a level plus its calibration (micrometres per pixel, beam position).

``Zoom`` holds the level in software (the simulated beamline moves its optics from it); ``EpicsZoom``
moves real optics through a motor record and changes the calibration only once they have arrived.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ophyd import Component as Cpt
from ophyd import Device, EpicsMotor, Kind, Signal
from ophyd.status import Status
from ophyd.utils.errors import DisconnectedError

from mxsight.toml_files import read_toml


@dataclass(frozen=True)
class ZoomLevel:
    pixel_size_um: float
    beam_position_px: tuple[float, float]


@dataclass(frozen=True)
class ZoomCalibration:
    """Calibration per zoom level, loaded from a plain TOML file (see ``config/zoom_sim.toml``)."""

    levels: dict[int, ZoomLevel]

    @classmethod
    def from_file(cls, path: Path | str) -> "ZoomCalibration":
        return cls.from_table(read_toml(path, "zoom calibration"), source=str(path))

    @classmethod
    def from_table(cls, table: dict, source: str = "table") -> "ZoomCalibration":
        levels = {}
        for key, entry in table.get("levels", {}).items():
            try:
                row, col = entry["beam_position_px"]
                levels[int(key)] = ZoomLevel(float(entry["pixel_size_um"]), (float(row), float(col)))
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(f"{source}: zoom level {key!r} needs pixel_size_um and beam_position_px = [row, col]") from error
        if not levels:
            raise ValueError(f"{source}: no [levels.N] tables found")
        return cls(levels)

    @classmethod
    def simulated(cls) -> "ZoomCalibration":
        text = resources.files("mxsight").joinpath("config/zoom_sim.toml").read_text()
        return cls.from_table(tomllib.loads(text), source="mxsight/config/zoom_sim.toml")

    def transposed(self) -> "ZoomCalibration":
        """The calibration of the same microscope with its camera turned by 90 degrees (rows and
        columns swapped): how a vertical-spindle beamline sees the simulated one."""
        return ZoomCalibration({key: ZoomLevel(level.pixel_size_um, level.beam_position_px[::-1]) for key, level in self.levels.items()})

    def __getitem__(self, level: int) -> ZoomLevel:
        try:
            return self.levels[int(level)]
        except KeyError:
            raise ValueError(f"zoom level {level} is not calibrated; known levels are {sorted(self.levels)}") from None


class Zoom(Device):
    """Zoom level and its calibration; ``set(level)`` changes the level and the calibration signals."""

    level = Cpt(Signal, value=1, kind=Kind.hinted)
    pixel_size_um = Cpt(Signal, value=0.0, kind=Kind.config)
    beam_position_row_px = Cpt(Signal, value=0.0, kind=Kind.config)
    beam_position_col_px = Cpt(Signal, value=0.0, kind=Kind.config)

    def __init__(self, *args, calibration: ZoomCalibration, initial_level: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.calibration = calibration
        self._apply(initial_level)

    def _apply(self, level: int) -> None:
        entry = self.calibration[level]
        self.level.put(int(level))
        self.pixel_size_um.put(entry.pixel_size_um)
        self.beam_position_row_px.put(entry.beam_position_px[0])
        self.beam_position_col_px.put(entry.beam_position_px[1])

    def set(self, level: int) -> Status:
        self._apply(level)
        status = Status(obj=self)
        status.set_finished()
        return status

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
