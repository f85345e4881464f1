"""When a centring fit may move motors: the confidence limits, in micrometres at the sample, per beamline."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class ConfidenceLimits:
    """When a fit is good enough to move motors, and when the crystal is seen often enough to centre it.

    Lengths are in micrometres at the sample, converted to pixels with the zoom's calibration, so one
    set of limits holds at every zoom and camera; a beamline sets its own in its beamline file
    (``[alignment]``, :meth:`from_table`). The defaults are the limits set on the simulated camera's fine
    zooms with the shipped network (docs/alignment.md, "How the limits were set"), taken at 1.39 um per
    pixel (zoom 6, the middle of those zooms).

    - The fit: at least ``min_frames`` frames see the target, ``min_inlier_fraction`` of them agree with
      the movement model, leaving an RMS residual of at most ``max_residual_rms_um`` (a correct mask
      leaves about a pixel; ice or a crystal taken for the loop several), or ``max_iced_loop_residual_rms_um``
      for a loop whose outline lies on ice (a crust drawn in part changes with the view).
    - The move: known to ``max_move_sigma_um`` (``max_crystal_move_sigma_um`` for a crystal, whose
      mask errors are systematic and reach the move at several times its fitted uncertainty).
    - A loop whose outline lies on ice (share above ``max_loop_edge_on_ice``) and runs along the ice's
      edge (above ``max_loop_edge_along_ice_edge``) was drawn around an ice crust: never centred.
    - Rotation does not move a point along the spindle: the target must lie within
      ``max_along_deviation_um`` of its median position there in ``min_along_agreement`` of the frames.
    - The crystal is the target when seen in ``min_crystal_fraction`` of the frames that show the sample.
    """

    min_frames: int = 5
    min_inlier_fraction: float = 0.7
    max_residual_rms_um: float = 1.75
    max_iced_loop_residual_rms_um: float = 3.5
    max_move_sigma_um: float = 3.0
    max_crystal_move_sigma_um: float = 1.5
    max_off_screen_fraction: float = 0.3
    min_crystal_fraction: float = 0.8
    max_loop_edge_on_ice: float = 0.3
    max_loop_edge_along_ice_edge: float = 0.08
    max_along_deviation_um: float = 7.0
    min_along_agreement: float = 0.8
    # Most share of a sweep's frames that may fail the segmentation self-check (their foreground
    # disagrees with the empty field, or their labels do not look like a mounted sample); the frames
    # that fail are never fitted, and above this share the sweep is refused (SegmentationNotTrusted).
    max_untrusted_fraction: float = 0.25

    @classmethod
    def from_table(cls, table: dict, base: "ConfidenceLimits | None" = None, source: str = "[alignment]") -> "ConfidenceLimits":
        """``base`` (default: the defaults) with the values of a beamline file's table replaced, checked
        against the file's schema (``AlignmentTable``: lengths > 0, shares in [0, 1])."""
        from mxsight.beamline_file import AlignmentTable
        from mxsight.file_schema import validated

        return dataclasses.replace(base or cls(), **validated(AlignmentTable, table, source, tables=False).limits())
