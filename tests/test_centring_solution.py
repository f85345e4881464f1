"""``solve_centring`` on constructed sweeps: the ice-crust check refuses a loop drawn around a crust,
and nothing else."""

import dataclasses

import numpy as np
import pytest

from mxsight.devices.zoom import ZoomLevel
from mxsight.plans.centring_solution import solve_centring
from mxsight.plans.confidence_limits import ConfidenceLimits
from mxsight.plans.errors import FitNotConfident
from mxsight.plans.sweeps import COARSE_SWEEP
from mxsight.vision.features import FrameFeatures

ZOOM = ZoomLevel(pixel_size_um=1.4, beam_position_px=(512.0, 680.0))


def _sweep(on_ice: float, along_ice_edge: float, crystal: bool = False, frames: int = 18) -> list[FrameFeatures]:
    """A loop (and optionally a crystal) moving on a perfect circle about row 500, 60 px off the axis."""
    sweep = []
    for omega in np.arange(frames) * 360.0 / frames:
        row = 500.0 + 60.0 * np.sin(np.deg2rad(omega + 20.0))
        sweep.append(
            FrameFeatures(
                omega_deg=float(omega),
                present=True,
                target="loop",
                target_px=(row, 700.0),
                bbox_px=(row - 80.0, 600.0, row + 80.0, 800.0),
                area_px=20000.0,
                centroid_px=(row, 700.0),
                tip_px=(row, 800.0),
                click_px=(row, 700.0),
                foreground_area_px=30000.0,
                crystal_px=(row + 5.0, 705.0) if crystal else (float("nan"), float("nan")),
                crystal_area_px=200.0 if crystal else 0.0,
                loop_edge_on_ice=on_ice,
                loop_edge_along_ice_edge=along_ice_edge,
            )
        )
    return sweep


def test_a_loop_drawn_around_an_ice_crust_is_refused_and_only_then():
    with pytest.raises(FitNotConfident, match=r"outline lies on ice \(60% .* 30% of it runs along the ice's edge"):
        solve_centring(_sweep(0.6, 0.3), ZOOM, target="loop")
    assert solve_centring(_sweep(0.6, 0.05), ZOOM, target="loop").target == "loop"  # the loop's edge inside the ice: exact masks
    assert solve_centring(_sweep(0.2, 0.3), ZOOM, target="loop").target == "loop"  # little of the outline on ice
    assert solve_centring(_sweep(0.6, 0.3), ZOOM, limits=COARSE_SWEEP.limits, target="loop").target == "loop"  # the coarse sweep does not judge it
    crystal = solve_centring(_sweep(0.6, 0.3, crystal=True), ZOOM)  # a crystal is centred whatever the rim looks like
    assert crystal.target == "crystal"


def test_a_refused_loop_after_an_unconfident_crystal_names_both():
    sweep = _sweep(0.6, 0.3, crystal=True)
    sweep = [dataclasses.replace(f, crystal_px=(f.crystal_px[0] + (25.0 if k % 2 else -25.0), f.crystal_px[1])) for k, f in enumerate(sweep)]
    with pytest.raises(FitNotConfident, match=r"ice crust.*; the crystal fit not confident \("):
        solve_centring(sweep, ZOOM)
    limits = ConfidenceLimits(max_loop_edge_on_ice=float("inf"))
    assert solve_centring(sweep, ZOOM, limits=limits).target_reason.startswith("crystal fit not confident")


def test_a_crystal_that_jumps_along_the_spindle_in_some_views_gives_way_to_the_loop():
    """Rotation does not move a point along the spindle: a crystal mask 30 px off along it in 4 of 12
    views (ice or loop taken in there) is not centred, the loop is; 4 px of jitter is no reason."""
    sweep = _sweep(0.0, 0.0, crystal=True, frames=12)
    jumping = [dataclasses.replace(f, crystal_px=(f.crystal_px[0], f.crystal_px[1] + (30.0 if k % 3 == 0 else 0.0))) for k, f in enumerate(sweep)]
    solution = solve_centring(jumping, ZOOM)
    assert solution.target == "loop"
    assert "along the spindle in only 67% of the frames" in solution.target_reason
    assert solution.as_record()["along_agreement"] == 1.0
    jitter = [dataclasses.replace(f, crystal_px=(f.crystal_px[0], f.crystal_px[1] + (4.0 if k % 2 else -4.0))) for k, f in enumerate(sweep)]
    along_rule_only = ConfidenceLimits(max_crystal_move_sigma_um=3.0)  # 4 px of jitter leaves the move uncertain to 1.6 um
    kept = solve_centring(jitter, ZOOM, limits=along_rule_only)
    assert kept.target == "crystal" and kept.along_agreement == 1.0
    with pytest.raises(FitNotConfident, match="67% of the frames"):
        solve_centring(jumping, ZOOM, target="crystal")


def test_a_crystal_whose_move_is_less_certain_than_its_limit_gives_way_to_the_loop():
    """The crystal's own uncertainty limit (its mask's errors are systematic): the same sweep centres
    the crystal under the default limit and the loop under a tighter one, which the loop is not held to."""
    rng = np.random.default_rng(3)
    sweep = _sweep(0.0, 0.0, crystal=True, frames=12)
    noisy = [dataclasses.replace(f, crystal_px=(f.crystal_px[0] + rng.normal(0.0, 0.4), f.crystal_px[1]), target_px=(f.target_px[0] + rng.normal(0.0, 0.4), f.target_px[1])) for f in sweep]
    crystal = solve_centring(noisy, ZOOM)
    assert crystal.target == "crystal"
    sigma_um = crystal.move.max_sigma_um
    assert 0.05 < sigma_um < ConfidenceLimits().max_crystal_move_sigma_um
    tighter = ConfidenceLimits(max_crystal_move_sigma_um=0.5 * sigma_um)
    loop = solve_centring(noisy, ZOOM, limits=tighter)
    assert loop.target == "loop" and loop.move.max_sigma_um > tighter.max_crystal_move_sigma_um
    assert f"the crystal's move uncertainty {sigma_um:.1f} um exceeds" in loop.target_reason
    with pytest.raises(FitNotConfident, match="the crystal's move uncertainty"):
        solve_centring(noisy, ZOOM, limits=tighter, target="crystal")


def _jittered(sweep: list[FrameFeatures], amplitude_px: float) -> list[FrameFeatures]:
    """The loop centre alternately ``amplitude_px`` above and below its circle: a residual of as much."""
    return [dataclasses.replace(f, target_px=(f.target_px[0] + (amplitude_px if k % 2 else -amplitude_px), f.target_px[1])) for k, f in enumerate(sweep)]


def test_a_loop_with_ice_on_its_outline_may_leave_more_residual_than_one_without():
    """A crust the segmenter drew in part changes with the view: 2 px about the circle are allowed for
    a loop whose outline lies on ice, not for one without ice, nor 3 px for either."""
    iced = solve_centring(_jittered(_sweep(0.6, 0.05), 2.0), ZOOM, target="loop")
    assert iced.target == "loop" and iced.fit.residual_rms == pytest.approx(2.0, abs=1e-6)
    with pytest.raises(FitNotConfident, match=r"residual 2.00 px \(2.80 um\) exceeds 1.75 um"):
        solve_centring(_jittered(_sweep(0.2, 0.05), 2.0), ZOOM, target="loop")
    with pytest.raises(FitNotConfident, match=r"residual 3.00 px \(4.20 um\) exceeds 3.5 um"):
        solve_centring(_jittered(_sweep(0.6, 0.05), 3.0), ZOOM, target="loop")
    crystal = _sweep(0.6, 0.05, crystal=True)
    crystal = [dataclasses.replace(f, crystal_px=(f.crystal_px[0] + (2.0 if k % 2 else -2.0), f.crystal_px[1])) for k, f in enumerate(crystal)]
    with pytest.raises(FitNotConfident, match=r"residual 2.00 px \(2.80 um\) exceeds 1.75 um"):
        solve_centring(crystal, ZOOM, target="crystal")  # a crystal's residual is its mask's error


def test_limits_are_micrometres_at_the_sample_whatever_the_zoom():
    """The same 1.5 px of residual is 1.6 um at 1.08 um per pixel (centred) and 2.7 um at 1.8 (refused);
    a beamline's own limit (its beamline file's [alignment]) moves the line."""
    sweep = _jittered(_sweep(0.0, 0.0), 1.5)
    fine, coarse = ZoomLevel(1.08, ZOOM.beam_position_px), ZoomLevel(1.8, ZOOM.beam_position_px)
    assert solve_centring(sweep, fine, target="loop").fit.residual_rms == pytest.approx(1.5, abs=1e-6)
    with pytest.raises(FitNotConfident, match=r"\(2.70 um\) exceeds 1.75 um"):
        solve_centring(sweep, coarse, target="loop")
    lenient = ConfidenceLimits.from_table({"max_residual_rms_um": 3.0})
    assert solve_centring(sweep, coarse, limits=lenient, target="loop").target == "loop"
    with pytest.raises(ValueError, match=r"\[alignment\] has unknown key 'max_residual_rms_px' \(did you mean 'max_residual_rms_um'\?\)"):
        ConfidenceLimits.from_table({"max_residual_rms_px": 3.0})
