"""From a fitted movement to motor moves that put the sample on the rotation axis and in the beam.

Convention (``CentringGeometry``): the image coordinate perpendicular to the spindle is
``v(omega) = v_beam - s_v * (z_align + (u + cx)*cos(omega) - (w + cy)*sin(omega)) / pixel_size``,
and the coordinate along it is ``h = h_beam + s_h * (x + y_align) / pixel_size``, where (u, w) is the
sample's offset from the axis in the rotating frame, cx/cy the centring motors, and y_align/z_align
the alignment motors along and across the spindle. The signs s_v and s_h come from the beamline's
configuration; the defaults match the simulated beamline (horizontal spindle, rows increase downwards).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from mxsight.geometry.circle import CircleFit

Spindle = Literal["horizontal", "vertical"]


@dataclass(frozen=True)
class CentringGeometry:
    """How motor motion appears in the image; ``spindle`` decides which image axis is along the spindle."""

    spindle: Spindle = "horizontal"
    perpendicular_sign: float = 1.0
    along_sign: float = 1.0

    def __post_init__(self) -> None:
        if self.spindle not in ("horizontal", "vertical"):
            raise ValueError(f"spindle must be 'horizontal' or 'vertical', got {self.spindle!r}")

    def split(self, row_col: tuple[float, float]) -> tuple[float, float]:
        """(perpendicular, along) image coordinates of a (row, col) point."""
        row, col = row_col
        return (row, col) if self.spindle == "horizontal" else (col, row)


@dataclass(frozen=True)
class CentringMove:
    """Relative motor moves in mm, with their one-sigma uncertainties in mm."""

    centring_x_mm: float
    centring_y_mm: float
    alignment_y_mm: float
    alignment_z_mm: float
    centring_x_sigma_mm: float
    centring_y_sigma_mm: float
    alignment_y_sigma_mm: float
    alignment_z_sigma_mm: float

    @property
    def max_sigma_um(self) -> float:
        sigmas = (self.centring_x_sigma_mm, self.centring_y_sigma_mm, self.alignment_y_sigma_mm)
        return 1000.0 * float(max(sigmas))

    def as_dict(self) -> dict[str, float]:
        return {name: float(value) for name, value in self.__dict__.items()}


def centring_move(
    fit: CircleFit,
    along_px: float,
    along_sigma_px: float,
    beam_position_px: tuple[float, float],
    pixel_size_um: float,
    geometry: CentringGeometry = CentringGeometry(),
) -> CentringMove:
    """Moves that bring the tracked point onto the rotation axis and the beam.

    ``fit`` is the circle fitted to the perpendicular image coordinate (pixels); ``along_px`` is the
    point's coordinate along the spindle (it does not move with omega). The alignment-z move brings the
    fitted axis onto the beam; it is computed and reported, and plans decide whether to apply it.
    """
    pixel_mm = pixel_size_um / 1000.0
    s_v, s_h = geometry.perpendicular_sign, geometry.along_sign
    v_beam, h_beam = geometry.split(beam_position_px)
    sigma_a = float(np.sqrt(fit.covariance_cab[1, 1]))
    sigma_b = float(np.sqrt(fit.covariance_cab[2, 2]))
    return CentringMove(
        centring_x_mm=s_v * fit.a * pixel_mm,
        centring_y_mm=-s_v * fit.b * pixel_mm,
        alignment_y_mm=-s_h * (along_px - h_beam) * pixel_mm,
        alignment_z_mm=s_v * (fit.c - v_beam) * pixel_mm,
        centring_x_sigma_mm=sigma_a * pixel_mm,
        centring_y_sigma_mm=sigma_b * pixel_mm,
        alignment_y_sigma_mm=along_sigma_px * pixel_mm,
        alignment_z_sigma_mm=fit.c_sigma * pixel_mm,
    )
