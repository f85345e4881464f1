"""``click_centre``: the manual fallback. An operator clicks the sample at three or more omegas; the
same circle geometry gives the move; every click is recorded (stream ``clicks``) beside its frame, so
stored clicks become training labels (``mxsight dataset export``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np

from mxsight.geometry.centring import CentringGeometry, centring_move
from mxsight.geometry.circle import CircleFitError, circle_through_points
from mxsight.plans.auto_centre import MOVED_MOTORS, check_limits
from mxsight.plans.errors import AlignmentError, FitNotConfident
from mxsight.plans.frame_taker import trigger_and_read_frame
from mxsight.plans.reads import camera_geometry, read_positions, read_zoom
from mxsight.plans.records import RecordReadable, alignment_metadata

ClickSource = Callable[[np.ndarray, float], "tuple[float, float] | None"]
CLICK_SIGMA_PX = 2.0


def click_centre(
    camera,
    goniometer,
    zoom,
    *,
    sample_id: str,
    omegas: Sequence[float] = (0.0, 90.0, 180.0),
    clicks: Mapping[float, tuple[float, float]] | None = None,
    ask: ClickSource | None = None,
    click_sigma_px: float = CLICK_SIGMA_PX,
    max_move_sigma_um: float = 10.0,
    geometry: CentringGeometry | None = None,
    beamline: str | None = None,
    uncalibrated: Literal["refuse", "allow"] = "refuse",
    md: dict | None = None,
):
    """Centre from an operator's clicks: at each of ``omegas`` take a frame and get a (row, col) click,
    either from ``clicks`` (omega -> point, e.g. typed in) or from ``ask(frame, omega)`` (a GUI or
    prompt callback; None skips the angle). Clicks are assumed good to ``click_sigma_px``; the move is
    applied only when its uncertainty is below ``max_move_sigma_um`` and within the motors' limits.
    Returns the move in mm.
    """
    geometry = camera_geometry(zoom, geometry, uncalibrated)
    if (clicks is None) == (ask is None):
        raise ValueError("give the clicks either as clicks={omega: (row, col)} or through ask=callback, not both or neither")
    if clicks is not None:
        omegas = tuple(clicks)
    if len(omegas) < 3:
        raise ValueError(f"click_centre needs clicks at 3 or more omegas, got {len(omegas)}")
    _, level = yield from read_zoom(zoom)
    metadata = {
        **(yield from alignment_metadata("click_centre", sample_id, zoom, geometry, beamline)),
        "omegas_deg": [float(o) for o in omegas],
        "click_sigma_px": click_sigma_px,
        **(md or {}),
    }
    record = RecordReadable("clicks", {"omega_deg": float("nan"), "row_px": float("nan"), "col_px": float("nan"), "frame_number": -1, "source": ""})
    result = RecordReadable(
        "results",
        {"outcome": "", "message": "", "c_px": float("nan"), "r_px": float("nan"), "alpha_deg": float("nan"), "along_px": float("nan"),
         **{f"move_{name}_mm": float("nan") for name in (*MOVED_MOTORS, "alignment_z")}},
    )

    applied: dict[str, float] = {}

    @bpp.stage_decorator([camera])
    @bpp.run_decorator(md=metadata)
    def inner():
        points = []
        for omega in omegas:
            yield from bps.mv(goniometer.omega, float(omega))
            reading = yield from trigger_and_read_frame([camera, goniometer])
            point = clicks[omega] if clicks is not None else ask(camera.last_frame, float(omega))
            if point is None:
                continue
            row, col = (float(v) for v in point)
            source = "given" if clicks is not None else "operator"
            values = {"omega_deg": float(omega), "row_px": row, "col_px": col, "frame_number": int(reading[camera.frame_number.name]["value"]), "source": source}
            yield from bps.trigger_and_read([record.update(values)], name="clicks")
            points.append((float(omega), row, col))
        try:
            if len(points) < 3:
                raise FitNotConfident(f"{len(points)} clicks were given, 3 are needed")
            omega_deg, rows, cols = (np.array(v) for v in zip(*points))
            perpendicular, along = geometry.split((rows, cols))
            try:
                fit = circle_through_points(omega_deg, perpendicular, sigma=click_sigma_px)
            except CircleFitError as error:
                raise FitNotConfident(str(error)) from error
            along_sigma = click_sigma_px / np.sqrt(len(points))
            move = centring_move(fit, float(np.mean(along)), along_sigma, level.beam_position_px, level.pixel_size_um, geometry)
            if move.max_sigma_um > max_move_sigma_um:
                raise FitNotConfident(f"move uncertainty {move.max_sigma_um:.1f} um exceeds {max_move_sigma_um} um: click at angles further apart")
            moves = move.as_dict()
            positions = yield from read_positions(goniometer, MOVED_MOTORS)
            targets = {name: positions[name] + moves[f"{name}_mm"] for name in MOVED_MOTORS}
            yield from check_limits(goniometer, targets)
        except AlignmentError as error:
            yield from bps.trigger_and_read([result.update({"outcome": type(error).__name__, "message": str(error)})], name="results")
            raise
        summary = {"outcome": "moved", "c_px": fit.c, "r_px": fit.r, "alpha_deg": fit.alpha_deg, "along_px": float(np.mean(along))}
        summary.update({f"move_{name}_mm": moves[f"{name}_mm"] for name in (*MOVED_MOTORS, "alignment_z")})
        yield from bps.trigger_and_read([result.update(summary)], name="results")
        args = []
        for name in MOVED_MOTORS:
            args += [getattr(goniometer, name), targets[name]]
        yield from bps.mv(*args)
        applied.update(moves)

    yield from inner()
    return applied
