"""``look_verdict`` on constructed frames: whether a sweep's first frames show the loop staying in view."""

import dataclasses

import numpy as np

from mxsight.plans.sweeps import look_verdict
from mxsight.vision.features import FrameFeatures

FRAME_SHAPE = (1024, 1360)


def _look(radius_px: float, half_size_px: float = 80.0, spindle: str = "horizontal", frames: int = 6) -> list[FrameFeatures]:
    """A loop whose centre moves on a circle of ``radius_px`` about the view's middle across the spindle,
    seen at 0, 20, ... degrees."""
    middle = (FRAME_SHAPE[0] if spindle == "horizontal" else FRAME_SHAPE[1]) / 2.0
    look = []
    for omega in np.arange(frames) * 20.0:
        across = middle + radius_px * np.sin(np.deg2rad(omega + 30.0))
        centre = (across, 700.0) if spindle == "horizontal" else (700.0, across)
        look.append(
            FrameFeatures(
                omega_deg=float(omega),
                present=True,
                target="loop",
                target_px=centre,
                bbox_px=(centre[0] - half_size_px, centre[1] - half_size_px, centre[0] + half_size_px, centre[1] + half_size_px),
                area_px=3.0 * half_size_px**2,
                centroid_px=centre,
                tip_px=centre,
                click_px=centre,
                foreground_area_px=6.0 * half_size_px**2,
            )
        )
    return look


def test_a_loop_near_the_axis_stays_in_view_and_one_far_off_does_not():
    in_view, why = look_verdict(_look(200.0), FRAME_SHAPE, "horizontal", look_frames=6)
    assert in_view is True and "in a view of 1024 px" in why
    # 200 px of swing and 80 px of half-size leave 232 px on either side; 420 px leave 12 px, under the 51 px margin
    leaves, why = look_verdict(_look(420.0), FRAME_SHAPE, "horizontal", look_frames=6)
    assert leaves is False and "would span" in why
    low, high = (float(n) for n in why.split("span ")[1].split(" px")[0].split("-"))
    assert abs(low - (512 - 500)) < 3 and abs(high - (512 + 500)) < 3  # the circle's full turn, the loop's half-size added
    # across the spindle is the column on a vertical spindle, whose view is 1360 px wide there
    assert look_verdict(_look(420.0, spindle="vertical"), (1360, 1024), "vertical", look_frames=6)[0] is False
    assert look_verdict(_look(420.0, spindle="vertical"), (1024, 1360), "vertical", look_frames=6)[0] is True


def test_the_verdict_waits_for_the_look_frames_and_stops_at_a_loop_out_of_view():
    look = _look(200.0)
    assert look_verdict(look[:5], FRAME_SHAPE, "horizontal", look_frames=6) == (None, "")
    cut = [*look[:2], dataclasses.replace(look[2], loop_touches_edge=True)]
    verdict, why = look_verdict(cut, FRAME_SHAPE, "horizontal", look_frames=6)
    assert verdict is False and why == "frame at omega 40 deg does not show the whole loop"
    gone = [dataclasses.replace(look[0], present=False)]
    assert look_verdict(gone, FRAME_SHAPE, "horizontal", look_frames=6)[0] is False
    # frames after the look do not change the verdict
    late = [*look, dataclasses.replace(look[0], omega_deg=120.0, loop_touches_edge=True)]
    assert look_verdict(late, FRAME_SHAPE, "horizontal", look_frames=6)[0] is True


def test_an_unusable_frame_or_a_look_that_fits_no_circle_says_leave():
    look = _look(200.0)
    verdict, why = look_verdict([dataclasses.replace(look[0], problem="black frame (mean level 0.0 < 8.0)")], FRAME_SHAPE, "horizontal", look_frames=6)
    assert verdict is False and why == "frame at omega 0 deg is unusable (black frame (mean level 0.0 < 8.0))"
    same_angle = [dataclasses.replace(f, omega_deg=0.0) for f in look]
    verdict, why = look_verdict(same_angle, FRAME_SHAPE, "horizontal", look_frames=6)
    assert verdict is False and why.startswith("the first 6 loop centres do not fit a circle")


def test_the_look_is_the_first_100_degrees_of_a_stepped_sweep_or_none():
    from mxsight.plans.auto_centre import _look_frames
    from mxsight.plans.sweeps import Sweep

    assert _look_frames(Sweep(frames=18)) == 6  # 0, 20, ..., 100
    assert _look_frames(Sweep(frames=36)) == 11
    assert _look_frames(Sweep(frames=6)) == 0  # 0 and 60 only: the coarse sweep always runs first
    assert _look_frames(Sweep(frames=5, span_deg=90.0)) == 0  # every frame within 100 deg: nothing left to save
    assert _look_frames(Sweep(frames=36, continuous=True)) == 11  # the turn is taken whole; the look decides what is segmented
