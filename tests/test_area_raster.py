"""Face-on / edge-on angles from the projected area, and raster grids, checked on simulated frames."""

import dataclasses

import numpy as np
import pytest

from mxsight.geometry.centring import CentringGeometry
from mxsight.geometry.projected_area import AreaFitError, FlatAreaError, fit_projected_area
from mxsight.geometry.raster import RasterError, RasterGrid, RasterOutOfLimits, check_within_limits, raster_grid
from mxsight.sim.projection import CameraGeometry, GoniometerPositions, Projector
from mxsight.sim.render import Optics, render
from mxsight.sim.scene import Crystal, Sample

# A small camera keeps renders at a few milliseconds: 0.64 x 0.51 mm at 2 um per pixel.
CAMERA = CameraGeometry(pixel_size_um=2.0, beam_position_px=(128, 160), shape_px=(256, 320))
BACKGROUND = np.full((256, 320, 3), 200, np.uint8)
OMEGAS_DEG = np.arange(0.0, 360.0, 15.0)
LOOP_ANGLES_DEG = (0.0, 37.0, 101.0, 152.0)
PLATE = Crystal(centre_along_mm=0.02, centre_across_mm=-0.01, half_size_mm=(0.04, 0.03, 0.004), in_plane_angle_deg=20.0)

# The loop centre sits on the beam along the spindle; a thin pin's tip and the stem are in view on
# the left, so that excluding them matters.
BASE = Sample(
    pin_radius_mm=0.1,
    pin_tip_x_mm=-0.27,
    stem_radius_mm=0.02,
    stem_length_mm=0.15,
    loop_half_length_mm=0.12,
    loop_half_width_mm=0.09,
    loop_wire_radius_mm=0.01,
    loop_plane_angle_deg=0.0,
    film_thickness_mm=0.03,
    offset_u_mm=0.04,
    offset_w_mm=-0.03,
)


def _sample(beta_deg: float) -> Sample:
    crystal = PLATE if beta_deg == 101.0 else None  # one loop carries a thin plate crystal
    return dataclasses.replace(BASE, loop_plane_angle_deg=beta_deg, crystal=crystal)


def _true_face_on_deg(beta_deg: float) -> float:
    """The loop normal (-sin b, cos b) has lab depth component cos(omega + b): along the view at omega = -b."""
    return float(np.mod(-beta_deg, 180.0))


def _loop_area(sample: Sample, omega_deg: float) -> int:
    return int(render(sample, CAMERA, GoniometerPositions(omega_deg=omega_deg), BACKGROUND).masks["loop"].sum())


def _angle_error_deg(a_deg: float, b_deg: float) -> float:
    return float((a_deg - b_deg + 90.0) % 180.0 - 90.0)


@pytest.fixture(scope="module")
def area_fits() -> dict[float, tuple[np.ndarray, object]]:
    """Loop-mask areas over a full turn and their fit, per loop plane angle (rendered once)."""
    fits = {}
    for beta in LOOP_ANGLES_DEG:
        areas = np.array([_loop_area(_sample(beta), omega) for omega in OMEGAS_DEG], dtype=float)
        fits[beta] = (areas, fit_projected_area(OMEGAS_DEG, areas))
    return fits


# --- projected area -------------------------------------------------------------------------------


@pytest.mark.parametrize("beta", LOOP_ANGLES_DEG)
def test_true_face_on_angle_is_the_rendered_maximum(area_fits, beta):
    sample, face = _sample(beta), _true_face_on_deg(beta)
    at_face = _loop_area(sample, face)
    assert at_face >= max(_loop_area(sample, face - 6), _loop_area(sample, face + 6))
    assert at_face >= area_fits[beta][0].max()
    at_edge = _loop_area(sample, face + 90)
    assert at_edge <= min(_loop_area(sample, face + 84), _loop_area(sample, face + 96))
    assert at_edge < 0.4 * at_face


@pytest.mark.parametrize("beta", LOOP_ANGLES_DEG)
def test_fitted_face_on_angle_matches_the_geometry(area_fits, beta):
    areas, fit = area_fits[beta]
    error = _angle_error_deg(fit.face_on_deg, _true_face_on_deg(beta))
    assert abs(error) < 5.0, f"face-on {fit.face_on_deg:.2f} deg vs true {_true_face_on_deg(beta):.2f}"
    assert fit.determined and 0.0 <= fit.face_on_deg < 180.0
    assert fit.edge_on_deg == pytest.approx((fit.face_on_deg + 90.0) % 180.0)
    assert 0 < fit.face_on_sigma_deg < 5.0
    assert fit.amplitude_px > 0.3 * fit.mean_area_px
    assert fit.predict(fit.face_on_deg) == pytest.approx(fit.mean_area_px + fit.amplitude_px)
    assert fit.predict(fit.edge_on_deg) == pytest.approx(fit.mean_area_px - fit.amplitude_px)
    record = fit.as_record("loop_")
    assert record["loop_face_on_deg"] == fit.face_on_deg and record["loop_n_points"] == OMEGAS_DEG.size
    assert all(isinstance(value, (float, int, bool, str)) for value in record.values())


def test_exact_sinusoid_and_half_turn_coverage():
    omega = np.arange(0.0, 180.0, 20.0)
    fit = fit_projected_area(omega, 5000 + 1200 * np.cos(np.deg2rad(2 * (omega - 163.0))))
    assert fit.face_on_deg == pytest.approx(163.0, abs=1e-9)
    assert fit.edge_on_deg == pytest.approx(73.0, abs=1e-9)
    assert fit.amplitude_px == pytest.approx(1200.0) and fit.mean_area_px == pytest.approx(5000.0)


def test_outliers_rejected_and_angle_uncertainty_calibrated():
    rng = np.random.default_rng(20261124)
    z_scores = []
    for _ in range(200):
        face = rng.uniform(0, 180)
        omega = np.sort(rng.uniform(0, 360, 24))
        areas = 4000 + rng.uniform(300, 2000) * np.cos(np.deg2rad(2 * (omega - face))) + rng.normal(0, 80, omega.size)
        outliers = rng.choice(omega.size, 2, replace=False)
        areas[outliers] += rng.choice([-1, 1], 2) * 3000
        fit = fit_projected_area(omega, areas)
        assert not fit.inliers[outliers].any()
        z_scores.append(_angle_error_deg(fit.face_on_deg, face) / fit.face_on_sigma_deg)
    z = np.abs(z_scores)
    assert np.mean(z < 2) > 0.9 and np.mean(z < 3) > 0.97
    assert 0.7 < np.median(z) / 0.6745 < 1.35


def test_bad_inputs_raise_named_errors():
    with pytest.raises(AreaFitError, match="at least 4"):
        fit_projected_area([0, 45, 90, np.nan], [1, 2, 3, 4])
    with pytest.raises(AreaFitError, match="cover 40.0 deg modulo 180"):
        fit_projected_area(np.linspace(0, 40, 9), np.linspace(100, 140, 9))
    with pytest.raises(AreaFitError, match="cover 0.0 deg"):  # one angle, modulo 180, seen four times
        fit_projected_area([10, 190, 370, 550], [1, 2, 3, 4])
    with pytest.raises(AreaFitError, match="one length"):
        fit_projected_area([0, 45, 90, 135], [1, 2, 3])


def test_flat_curve_has_no_face_on_angle():
    rng = np.random.default_rng(3)
    omega = np.arange(0.0, 360.0, 15.0)
    areas = 5000 + rng.normal(0, 40, omega.size)  # a round blob: only noise changes with omega
    with pytest.raises(FlatAreaError, match="does not change significantly") as raised:
        fit_projected_area(omega, areas)
    assert isinstance(raised.value, AreaFitError) and not raised.value.fit.determined
    fit = fit_projected_area(omega, areas, allow_flat=True)
    assert not fit.determined and np.isnan(fit.face_on_deg) and np.isnan(fit.edge_on_deg)
    assert "significantly" in fit.reason and fit.as_record()["area_determined"] is False
    tiny = fit_projected_area(omega, 5000 + 20 * np.cos(np.deg2rad(2 * omega)), allow_flat=True)
    assert not tiny.determined and "hardly changes" in tiny.reason  # exact, but only 0.4% modulation


# --- raster grids ---------------------------------------------------------------------------------

STEP_UM, MARGIN_UM = 10.0, 15.0
CURRENT = GoniometerPositions(centring_x_mm=0.02, centring_y_mm=-0.01, alignment_y_mm=0.03, alignment_z_mm=0.01)


def _frame(beta: float, omega: float, optics: Optics = Optics()):
    positions = dataclasses.replace(CURRENT, omega_deg=omega)
    return render(_sample(beta), CAMERA, positions, BACKGROUND, optics=optics), positions


def _grid(frame, beam_px=CAMERA.beam_position_px, geometry=CentringGeometry(), step=STEP_UM) -> RasterGrid:
    masks = frame.masks
    return raster_grid(
        masks["loop"] | masks["crystal"],
        frame.omega_deg,
        pixel_size_um=CAMERA.pixel_size_um,
        beam_position_px=beam_px,
        step_um=step,
        margin_um=MARGIN_UM,
        geometry=geometry,
        exclude=masks["stem"] | masks["pin"],
        mask_name="loop mask",
    )


@pytest.fixture(scope="module")
def raster_frames(area_fits):
    """Frames at the fitted face-on and edge-on angles of two loops, and their grids."""
    cases = {}
    for beta in (37.0, 101.0):
        fit = area_fits[beta][1]
        for name, omega in (("face", fit.face_on_deg), ("edge", fit.edge_on_deg)):
            frame, positions = _frame(beta, omega)
            cases[beta, name] = (frame, positions, _grid(frame))
    return cases


def test_grid_contains_every_loop_pixel_with_margin(raster_frames):
    for (beta, name), (frame, positions, grid) in raster_frames.items():
        assert frame.masks["stem"].any() and frame.masks["pin"].any(), "stem and pin should be in view"
        # the grid's corners, taken to pixels by the simulator's own projection
        half_x, half_z = grid.extent_along_um / 2000.0, grid.extent_across_um / 2000.0
        corners = np.array(
            [[grid.centre_along_mm + sx * half_x, 0.0, grid.centre_across_mm + sz * half_z] for sx in (-1, 1) for sz in (-1, 1)]
        )
        rows, cols = Projector(CAMERA, positions).pixels_of_lab(corners)
        rr, cc = np.nonzero(frame.masks["loop"])
        margin_px = MARGIN_UM / CAMERA.pixel_size_um
        assert rr.min() - 0.5 - rows.min() >= margin_px - 1e-6 and rows.max() - (rr.max() + 0.5) >= margin_px - 1e-6, (beta, name)
        assert cc.min() - 0.5 - cols.min() >= margin_px - 1e-6 and cols.max() - (cc.max() + 0.5) >= margin_px - 1e-6, (beta, name)
        # the stem and pin are left out: the box is the loop's length, wire included, to a pixel
        loop_length_um = 2000.0 * (BASE.loop_half_length_mm + BASE.loop_wire_radius_mm)
        assert grid.box_along_um <= loop_length_um + 2 * CAMERA.pixel_size_um
        assert not grid.clipped_by_image
        # a mask that includes the stem and pin (all foreground) gives the same grid once they are excluded
        kwargs = dict(
            pixel_size_um=CAMERA.pixel_size_um, beam_position_px=CAMERA.beam_position_px, step_um=STEP_UM, margin_um=MARGIN_UM
        )
        foreground = frame.masks["foreground"]
        excluded = raster_grid(foreground, frame.omega_deg, exclude=frame.masks["stem"] | frame.masks["pin"], **kwargs)
        assert excluded == grid
        whole = raster_grid(foreground, frame.omega_deg, **kwargs)
        assert whole.clipped_by_image and whole.box_along_um > grid.box_along_um + 100.0


def test_grid_snaps_outward_to_whole_steps(raster_frames):
    for (beta, name), (_, _, grid) in raster_frames.items():
        along = (grid.extent_along_um, grid.box_along_um, grid.step_along_um)
        across = (grid.extent_across_um, grid.box_across_um, grid.step_across_um)
        for extent, box, step in (along, across):
            assert extent / step == pytest.approx(round(extent / step))
            assert box + 2 * MARGIN_UM <= extent < box + 2 * MARGIN_UM + step
    face, edge = raster_frames[37.0, "face"][2], raster_frames[37.0, "edge"][2]
    assert face.n_across > 2.5 * edge.n_across  # face-on shows the loop's width, edge-on its film
    assert face.n_along == pytest.approx(edge.n_along, abs=1)
    unequal = _grid(raster_frames[37.0, "face"][0], step=(10.0, 4.0))
    assert unequal.extent_along_um == face.extent_along_um and unequal.step_across_um == 4.0
    assert unequal.n_across == int(np.ceil((unequal.box_across_um + 2 * MARGIN_UM) / 4.0 - 1e-9))


def test_motor_positions_bring_each_cell_onto_the_beam(raster_frames):
    names = {"alignment_y": CURRENT.alignment_y_mm, "centring_x": CURRENT.centring_x_mm, "centring_y": CURRENT.centring_y_mm}
    for (beta, name), (frame, positions, grid) in raster_frames.items():
        current = {**names, "omega": positions.omega_deg, "alignment_z": positions.alignment_z_mm}
        targets = grid.motor_positions(current)
        offsets = grid.cell_offsets_mm()
        assert len(targets) == grid.n_cells == offsets.shape[0]
        omega = np.deg2rad(positions.omega_deg)
        for cell in (0, grid.n_cells // 2, grid.n_cells - 1):
            d_x, d_z = offsets[cell]
            # the rotating-frame point that sits at this cell centre (in the focal plane) now ...
            z_rel = d_z - positions.alignment_z_mm
            x = d_x - positions.alignment_y_mm
            u = z_rel * np.cos(omega) - positions.centring_x_mm
            w = -z_rel * np.sin(omega) - positions.centring_y_mm
            row, col = Projector(CAMERA, positions).pixels(x, u, w)
            beam_row, beam_col = CAMERA.beam_position_px
            assert (row, col) == pytest.approx((beam_row - d_z / 0.002, beam_col + d_x / 0.002))
            # ... is on the beam pixel, and still in focus, after the cell's moves
            moved = dataclasses.replace(
                positions,
                alignment_y_mm=targets[cell]["alignment_y"],
                centring_x_mm=targets[cell]["centring_x"],
                centring_y_mm=targets[cell]["centring_y"],
            )
            assert Projector(CAMERA, moved).pixels(x, u, w) == pytest.approx((beam_row, beam_col), abs=1e-9)
            depth = Projector(CAMERA, moved).lab_points(x, u, w)[0, 1]
            assert depth == pytest.approx(Projector(CAMERA, positions).lab_points(x, u, w)[0, 1], abs=1e-12)
        # the cell nearest the loop centre brings that centre to within half a cell of the beam
        loop_row, loop_col = frame.loop_centre_px
        loop_lab = np.array([(loop_col - CAMERA.beam_position_px[1]) * 0.002, (CAMERA.beam_position_px[0] - loop_row) * 0.002])
        nearest = int(np.argmin(np.hypot(*(offsets - loop_lab).T)))
        moved = dataclasses.replace(
            positions,
            alignment_y_mm=targets[nearest]["alignment_y"],
            centring_x_mm=targets[nearest]["centring_x"],
            centring_y_mm=targets[nearest]["centring_y"],
        )
        row, col = Projector(CAMERA, moved).pixels(*_sample(beta).loop_centre_rotating_mm())
        assert abs(row - CAMERA.beam_position_px[0]) * 2.0 <= grid.step_across_um / 2 + 1e-6
        assert abs(col - CAMERA.beam_position_px[1]) * 2.0 <= grid.step_along_um / 2 + 1e-6


def test_serpentine_order():
    grid = RasterGrid(
        omega_deg=30.0, step_along_um=10.0, step_across_um=20.0, n_along=3, n_across=2, centre_along_mm=0.1, centre_across_mm=-0.05
    )
    assert grid.cell_indices().tolist() == [[0, 0], [1, 0], [2, 0], [2, 1], [1, 1], [0, 1]]
    expected = [[0.09, -0.06], [0.10, -0.06], [0.11, -0.06], [0.11, -0.04], [0.10, -0.04], [0.09, -0.04]]
    assert grid.cell_offsets_mm() == pytest.approx(np.array(expected))
    assert grid.extent_um == (30.0, 40.0)
    record = grid.as_record()
    assert record["raster_n_cells"] == 6 and all(isinstance(v, (float, int, bool)) for v in record.values())


def test_vertical_spindle_and_mirrored_views_give_the_same_grid(raster_frames):
    beam_row, beam_col = CAMERA.beam_position_px
    for beta, name in ((37.0, "face"), (101.0, "edge")):
        frame, positions, grid = raster_frames[beta, name]
        vertical, _ = _frame(beta, positions.omega_deg, Optics(spindle="vertical"))
        assert np.array_equal(vertical.masks["loop"], frame.masks["loop"].T)
        vertical_grid = _grid(vertical, beam_px=(beam_col, beam_row), geometry=CentringGeometry(spindle="vertical"))
        mirrored, _ = _frame(beta, positions.omega_deg, Optics(pin_side="right"))
        mirrored_beam_px = (beam_row, CAMERA.shape_px[1] - 1 - beam_col)
        mirrored_grid = _grid(mirrored, beam_px=mirrored_beam_px, geometry=CentringGeometry(along_sign=-1.0))
        for other in (vertical_grid, mirrored_grid):
            assert (other.n_along, other.n_across) == (grid.n_along, grid.n_across)
            assert other.as_record() == pytest.approx(grid.as_record())


def test_limits_and_empty_masks_raise_named_errors(raster_frames):
    frame, positions, grid = raster_frames[37.0, "face"]
    targets = grid.motor_positions({"alignment_y": 0.03, "centring_x": 0.02, "centring_y": -0.01})
    check_within_limits(targets, {"alignment_y": (-5.0, 5.0), "centring_x": (-2.0, 2.0), "omega": (-1e4, 1e4)})
    with pytest.raises(RasterOutOfLimits, match=r"alignment_y target -?\d+\.\d{4} is outside its limits \[0, 0\.03\]") as raised:
        check_within_limits(targets, {"alignment_y": (0.0, 0.03)})
    assert raised.value.motor == "alignment_y" and raised.value.limits == (0.0, 0.03)
    assert not 0.0 <= raised.value.target <= 0.03
    with pytest.raises(RasterError, match="lack centring_y"):
        grid.motor_positions({"alignment_y": 0.0, "centring_x": 0.0})
    empty = np.zeros(CAMERA.shape_px, bool)
    kwargs = dict(pixel_size_um=2.0, beam_position_px=(128, 160), step_um=10.0, margin_um=5.0)
    with pytest.raises(RasterError, match="crystal mask is empty at omega 12"):
        raster_grid(empty, 12.0, mask_name="crystal mask", **kwargs)
    stem = frame.masks["stem"]
    with pytest.raises(RasterError, match="empty .* once the excluded pixels are removed"):
        raster_grid(stem, 12.0, exclude=stem, **kwargs)
    loop = frame.masks["loop"]
    for bad in (0.0, -10.0, (10.0, 0.0)):
        with pytest.raises(RasterError, match="step_um must be positive"):
            raster_grid(loop, 12.0, **{**kwargs, "step_um": bad})
    with pytest.raises(RasterError, match="margin_um must be zero or positive"):
        raster_grid(loop, 12.0, **{**kwargs, "margin_um": -1.0})
    with pytest.raises(RasterError, match="omega_deg must be finite"):
        raster_grid(loop, float("nan"), **kwargs)
