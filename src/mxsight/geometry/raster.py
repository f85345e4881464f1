"""Raster-scan grids from a mask: the bounding box of the sample seen at one omega, in motor terms.

A raster (grid) scan exposes the sample cell by cell, one beam-sized step apart. Its extent is the
bounding box of the loop / crystal mask (stem and pin excluded) at the face-on and at the edge-on
omega (:mod:`mxsight.geometry.projected_area`), grown by a margin and snapped outward to whole steps,
so the grid contains the whole box. Offsets are lab offsets from the beam in mm: ``along`` the spindle
(lab X) and ``across`` it in the image plane (lab Z, vertical for a horizontal spindle), with the image
convention of :mod:`mxsight.geometry.centring`::

    v = v_beam - s_v * Z / pixel_size,    h = h_beam + s_h * X / pixel_size

A cell at lab offset (dX, dZ) is brought onto the beam at this omega by ``alignment_y -= dX`` and the
centring motors ``centring_x -= dZ*cos(omega)``, ``centring_y += dZ*sin(omega)``: with
``Z = z_align + (u + cx)*cos(omega) - (w + cy)*sin(omega)`` that changes Z by exactly -dZ and the
depth ``Y = (u + cx)*sin(omega) + (w + cy)*cos(omega)`` not at all, so the cell stays in focus.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from mxsight.geometry.centring import CentringGeometry

RASTER_MOTORS = ("alignment_y", "centring_x", "centring_y")


class RasterError(ValueError):
    """A raster grid cannot be made: empty mask, non-positive step, negative margin, bad inputs."""


class RasterOutOfLimits(ValueError):
    """A raster cell's motor target lies outside the motor's limits; names the motor, target and limits."""

    def __init__(self, message: str, *, motor: str, target: float, limits: tuple[float, float], cell: int):
        super().__init__(message)
        self.motor = motor
        self.target = target
        self.limits = limits
        self.cell = cell


@dataclass(frozen=True)
class RasterGrid:
    """A rectangular grid of ``n_along`` x ``n_across`` cells at ``omega_deg``, centred at
    (``centre_along_mm``, ``centre_across_mm``) from the beam (lab X along the spindle, lab Z across it).

    The ``box_*`` and ``margin_*`` fields record what the grid was made from (NaN / 0 when built by
    hand); ``clipped_by_image`` says the mask touched the image border, so the box may be too small.
    """

    omega_deg: float
    step_along_um: float
    step_across_um: float
    n_along: int
    n_across: int
    centre_along_mm: float
    centre_across_mm: float
    box_along_um: float = float("nan")
    box_across_um: float = float("nan")
    margin_along_um: float = 0.0
    margin_across_um: float = 0.0
    clipped_by_image: bool = False

    def __post_init__(self) -> None:
        if not (self.step_along_um > 0 and self.step_across_um > 0):
            raise RasterError(f"raster steps must be positive, got {self.step_along_um} x {self.step_across_um} um")
        if self.n_along < 1 or self.n_across < 1:
            raise RasterError(f"a raster grid needs at least one cell each way, got {self.n_along} x {self.n_across}")
        if not math.isfinite(self.omega_deg):
            raise RasterError(f"raster omega must be finite, got {self.omega_deg}")

    @property
    def n_cells(self) -> int:
        return self.n_along * self.n_across

    @property
    def extent_along_um(self) -> float:
        return self.n_along * self.step_along_um

    @property
    def extent_across_um(self) -> float:
        return self.n_across * self.step_across_um

    @property
    def extent_um(self) -> tuple[float, float]:
        """(along, across) size of the grid in micrometres: whole steps."""
        return self.extent_along_um, self.extent_across_um

    def cell_indices(self) -> np.ndarray:
        """(i_along, j_across) of every cell, n_cells x 2, in scan order.

        Serpentine with the fast axis along the spindle: line j (j = 0 at the lowest lab Z) runs in
        increasing i when j is even and in decreasing i when j is odd.
        """
        lines = []
        for j in range(self.n_across):
            along = np.arange(self.n_along) if j % 2 == 0 else np.arange(self.n_along)[::-1]
            lines.append(np.column_stack([along, np.full(self.n_along, j)]))
        return np.concatenate(lines).astype(int)

    def cell_offsets_mm(self) -> np.ndarray:
        """(dX along, dZ across) lab offsets in mm of every cell centre from the beam, n_cells x 2, in
        the serpentine order of :meth:`cell_indices`."""
        indices = self.cell_indices()
        along = self.centre_along_mm + (indices[:, 0] - (self.n_along - 1) / 2.0) * self.step_along_um / 1000.0
        across = self.centre_across_mm + (indices[:, 1] - (self.n_across - 1) / 2.0) * self.step_across_um / 1000.0
        return np.column_stack([along, across])

    def motor_positions(self, current: Mapping[str, float]) -> list[dict[str, float]]:
        """Absolute targets of alignment_y, centring_x and centring_y (mm) that put each cell centre on
        the beam at ``omega_deg``, in scan order.

        ``current`` are the motor positions at which the mask's image was taken (other keys are
        ignored); omega must stand at ``omega_deg`` while the cells are exposed.
        """
        missing = [name for name in RASTER_MOTORS if name not in current]
        if missing:
            raise RasterError(f"current positions lack {', '.join(missing)}; raster moves need {', '.join(RASTER_MOTORS)}")
        omega = math.radians(self.omega_deg)
        cos_omega, sin_omega = math.cos(omega), math.sin(omega)
        alignment_y, centring_x, centring_y = (float(current[name]) for name in RASTER_MOTORS)
        return [
            {
                "alignment_y": alignment_y - float(d_x),
                "centring_x": centring_x - float(d_z) * cos_omega,
                "centring_y": centring_y + float(d_z) * sin_omega,
            }
            for d_x, d_z in self.cell_offsets_mm()
        ]

    def as_record(self, prefix: str = "raster_") -> dict[str, float | int | bool]:
        """Plain scalars for event documents and reports, keys prefixed with ``prefix``."""
        values: dict[str, float | int | bool] = {
            "omega_deg": float(self.omega_deg),
            "step_along_um": float(self.step_along_um),
            "step_across_um": float(self.step_across_um),
            "n_along": int(self.n_along),
            "n_across": int(self.n_across),
            "n_cells": int(self.n_cells),
            "extent_along_um": float(self.extent_along_um),
            "extent_across_um": float(self.extent_across_um),
            "centre_along_mm": float(self.centre_along_mm),
            "centre_across_mm": float(self.centre_across_mm),
            "box_along_um": float(self.box_along_um),
            "box_across_um": float(self.box_across_um),
            "margin_along_um": float(self.margin_along_um),
            "margin_across_um": float(self.margin_across_um),
            "clipped_by_image": bool(self.clipped_by_image),
        }
        return {prefix + name: value for name, value in values.items()}


def _pair(value: float | tuple[float, float], name: str) -> tuple[float, float]:
    """(along, across) from a number or a pair."""
    try:
        along, across = (value, value) if np.ndim(value) == 0 else value
        return float(along), float(across)
    except (TypeError, ValueError) as error:
        raise RasterError(f"{name} must be a number or an (along, across) pair, got {value!r}") from error


def _cells(width_um: float, step_um: float) -> int:
    """Whole steps that cover ``width_um`` (at least one); a hair of tolerance for rounding."""
    return max(1, math.ceil(width_um / step_um - 1e-9))


def raster_grid(
    mask: np.ndarray,
    omega_deg: float,
    *,
    pixel_size_um: float,
    beam_position_px: tuple[float, float],
    step_um: float | tuple[float, float],
    margin_um: float | tuple[float, float],
    geometry: CentringGeometry = CentringGeometry(),
    exclude: np.ndarray | None = None,
    mask_name: str = "mask",
) -> RasterGrid:
    """The grid covering ``mask & ~exclude`` (e.g. loop | crystal, excluding stem | pin) seen at ``omega_deg``.

    The bounding box takes whole pixels (pixel centres at integer coordinates, so a box of pixels
    r0..r1 spans r0 - 0.5 to r1 + 0.5), grows by ``margin_um`` on every side and is snapped outward
    to whole ``step_um`` (a number, or (along, across)), keeping its centre. ``beam_position_px`` is
    (row, col); ``geometry`` says which image axis is along the spindle and the signs.
    """
    step_along, step_across = _pair(step_um, "step_um")
    margin_along, margin_across = _pair(margin_um, "margin_um")
    if not (step_along > 0 and step_across > 0 and math.isfinite(step_along) and math.isfinite(step_across)):
        raise RasterError(f"step_um must be positive, got {step_um!r}")
    if not (margin_along >= 0 and margin_across >= 0 and math.isfinite(margin_along) and math.isfinite(margin_across)):
        raise RasterError(f"margin_um must be zero or positive, got {margin_um!r}")
    if not (pixel_size_um > 0 and math.isfinite(pixel_size_um)):
        raise RasterError(f"pixel_size_um must be positive, got {pixel_size_um!r}")
    if not math.isfinite(omega_deg):
        raise RasterError(f"omega_deg must be finite, got {omega_deg!r} (was the face-on angle undetermined?)")
    region = np.asarray(mask, dtype=bool)
    if region.ndim != 2:
        raise RasterError(f"{mask_name} must be a 2-D image mask, got shape {region.shape}")
    if exclude is not None:
        exclude = np.asarray(exclude, dtype=bool)
        if exclude.shape != region.shape:
            raise RasterError(f"exclude has shape {exclude.shape} but {mask_name} has {region.shape}")
        if region.any() and not (region & ~exclude).any():
            raise RasterError(f"{mask_name} is empty at omega {omega_deg:g} deg once the excluded pixels are removed")
        region = region & ~exclude
    if not region.any():
        raise RasterError(f"{mask_name} is empty at omega {omega_deg:g} deg: nothing to raster")

    rows = np.nonzero(region.any(axis=1))[0]
    cols = np.nonzero(region.any(axis=0))[0]
    clipped = bool(rows[0] == 0 or cols[0] == 0 or rows[-1] == region.shape[0] - 1 or cols[-1] == region.shape[1] - 1)
    row_range = (rows[0] - 0.5, rows[-1] + 0.5)
    col_range = (cols[0] - 0.5, cols[-1] + 0.5)
    perpendicular_range, along_range = geometry.split((row_range, col_range))
    v_beam, h_beam = geometry.split(beam_position_px)
    pixel_mm = pixel_size_um / 1000.0
    lab_x = sorted(geometry.along_sign * (h - h_beam) * pixel_mm for h in along_range)
    lab_z = sorted(geometry.perpendicular_sign * (v_beam - v) * pixel_mm for v in perpendicular_range)
    box_along_um = 1000.0 * (lab_x[1] - lab_x[0])
    box_across_um = 1000.0 * (lab_z[1] - lab_z[0])
    return RasterGrid(
        omega_deg=float(omega_deg),
        step_along_um=step_along,
        step_across_um=step_across,
        n_along=_cells(box_along_um + 2 * margin_along, step_along),
        n_across=_cells(box_across_um + 2 * margin_across, step_across),
        centre_along_mm=float(0.5 * (lab_x[0] + lab_x[1])),
        centre_across_mm=float(0.5 * (lab_z[0] + lab_z[1])),
        box_along_um=float(box_along_um),
        box_across_um=float(box_across_um),
        margin_along_um=margin_along,
        margin_across_um=margin_across,
        clipped_by_image=clipped,
    )


def check_within_limits(
    positions: Iterable[Mapping[str, float]], limits: Mapping[str, tuple[float, float]]
) -> None:
    """Raise :class:`RasterOutOfLimits` for the first cell whose target leaves a motor's (low, high)
    limits (inclusive); motors without limits are not checked. The message counts all such cells."""
    first: tuple[int, str, float, tuple[float, float]] | None = None
    n_bad = 0
    for cell, targets in enumerate(positions):
        bad_here = False
        for motor, (low, high) in limits.items():
            if motor not in targets:
                continue
            target = float(targets[motor])
            if not low <= target <= high:
                bad_here = True
                if first is None:
                    first = (cell, motor, target, (float(low), float(high)))
        n_bad += bad_here
    if first is not None:
        cell, motor, target, (low, high) = first
        raise RasterOutOfLimits(
            f"raster cell {cell}: {motor} target {target:.4f} is outside its limits [{low:g}, {high:g}]"
            f" ({n_bad} cell{'s' if n_bad != 1 else ''} out of limits)",
            motor=motor,
            target=target,
            limits=(low, high),
            cell=cell,
        )
