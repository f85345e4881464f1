"""How a simulated on-axis camera is mounted: the renderer's view turned or mirrored, as real cameras are.

The renderer draws the spindle along the image rows with the pin on the left (the "standard" view). A
beamline's camera may see that view transposed, mirrored by a prism or turned by 90 degrees; a
:class:`CameraMount` applies such a turn to frames, masks and pixel positions, so the simulator can
show plans (and ``calibrate_camera``) a camera whose orientation they must measure, not assume.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CameraMount:
    """Transpose the standard view, then flip the result's rows and/or columns."""

    transpose: bool = False
    flip_rows: bool = False
    flip_cols: bool = False

    @classmethod
    def named(cls, name: str) -> "CameraMount":
        try:
            return MOUNTS[name]
        except KeyError:
            raise ValueError(f"camera mount must be one of {sorted(MOUNTS)}, got {name!r}") from None

    @property
    def spindle(self) -> str:
        """The image direction the spindle runs along."""
        return "vertical" if self.transpose else "horizontal"

    def shape(self, standard_shape: tuple[int, int]) -> tuple[int, int]:
        """The mounted frame's (rows, columns)."""
        rows, cols = standard_shape
        return (cols, rows) if self.transpose else (rows, cols)

    def image(self, standard: np.ndarray) -> np.ndarray:
        """A standard-view array (H, W[, ...]) as this camera sees it."""
        array = np.swapaxes(standard, 0, 1) if self.transpose else standard
        if self.flip_rows:
            array = array[::-1]
        if self.flip_cols:
            array = array[:, ::-1]
        return np.ascontiguousarray(array)

    def point(self, standard_rc: tuple[float, float], standard_shape: tuple[int, int]) -> tuple[float, float]:
        """A standard-view (row, column) in this camera's pixels."""
        row, col = standard_rc
        if self.transpose:
            row, col = col, row
        rows, cols = self.shape(standard_shape)
        if self.flip_rows:
            row = rows - 1 - row
        if self.flip_cols:
            col = cols - 1 - col
        return float(row), float(col)

    def standard_point(self, mounted_rc: tuple[float, float], standard_shape: tuple[int, int]) -> tuple[float, float]:
        """This camera's (row, column) in the standard view (the inverse of :meth:`point`)."""
        row, col = mounted_rc
        rows, cols = self.shape(standard_shape)
        if self.flip_rows:
            row = rows - 1 - row
        if self.flip_cols:
            col = cols - 1 - col
        if self.transpose:
            row, col = col, row
        return float(row), float(col)

    def signs(self) -> tuple[float, float]:
        """(perpendicular, along) signs of :class:`~mxsight.geometry.centring.CentringGeometry` for this
        camera: the standard view has +1 for both; a flip of the image axis across the spindle (or along
        it) negates that sign."""
        flip_across, flip_along = (self.flip_cols, self.flip_rows) if self.transpose else (self.flip_rows, self.flip_cols)
        return (-1.0 if flip_across else 1.0, -1.0 if flip_along else 1.0)


MOUNTS: dict[str, CameraMount] = {
    "standard": CameraMount(),
    "transposed": CameraMount(transpose=True),  # how the simulator shows a vertical spindle
    "mirrored": CameraMount(flip_rows=True),  # a prism in the path: up and down swapped
    "rotated_90": CameraMount(transpose=True, flip_rows=True),  # numpy.rot90: a quarter turn anticlockwise
    "rotated_180": CameraMount(flip_rows=True, flip_cols=True),
    "rotated_270": CameraMount(transpose=True, flip_cols=True),
}


def mount_for(spindle: str, mount: CameraMount | None) -> CameraMount:
    """The camera mount a simulated beamline uses: ``mount``, or the one ``spindle`` implies."""
    if spindle not in ("horizontal", "vertical"):
        raise ValueError(f"spindle must be 'horizontal' or 'vertical', got {spindle!r}")
    if mount is None:
        return CameraMount.named("transposed" if spindle == "vertical" else "standard")
    if spindle == "vertical" and mount.spindle != "vertical":
        raise ValueError(f"spindle 'vertical' contradicts the camera mount {mount}")
    return mount
