"""The slab refraction movement model: its formula against the simulator's ray tracer, its fit on
tracks rendered by the simulator, model selection against the circle, and its uncertainties."""

import dataclasses

import numpy as np
import pytest

from mxsight.geometry.centring import centring_move
from mxsight.geometry.circle import fit_circle
from mxsight.geometry.model_selection import CIRCLE_N_PARAMETERS, bic, select_movement_model
from mxsight.geometry.slab import SlabFitError, bootstrap_sigmas, fit_slab, slab_displacement
from mxsight.sim.optics import apparent_positions
from mxsight.sim.projection import CameraGeometry, GoniometerPositions, Projector
from mxsight.sim.rasterise import polygon_mask
from mxsight.sim.render import render
from mxsight.sim.sample_masks import VIEW_DIRECTION
from mxsight.sim.scene import random_sample

CAMERA = CameraGeometry(pixel_size_um=1.0, beam_position_px=(128, 160), shape_px=(256, 320))
BACKGROUND = np.full((256, 320, 3), 200, np.uint8)
OMEGA_DEG = np.arange(0.0, 360.0, 7.5)
FILM_MM = 0.08
DEPTH_MM = 0.022  # crystal centre 22 um off the mid-plane: 18 um below the +normal face, 62 um below the other
CRYSTAL_UW_MM = (0.03, -0.025)  # where the crystal sits in the rotating frame: 39 um off the axis


def _polygon_mask_offset_px() -> float:
    """How far a crystal mask's index centroid lies before the projected point it covers.

    The simulator fills polygon masks (crystal, loop_inside) with PIL, whose pixel i covers [i, i+1):
    the index centroid lies half a pixel before the polygon's centroid (measured: 0.50 +- 0.16 px per
    polygon, in both axes), while click_px and the projector use pixel index = pixel centre. Measured
    here on 400 random squares (to +-0.01 px) rather than assumed, so the test follows the renderer.
    """
    rng = np.random.default_rng(5)
    offsets = []
    for _ in range(400):
        centre, half, angle = rng.uniform(60, 190, 2), rng.uniform(5, 30), rng.uniform(0, np.pi)
        corners = angle + np.arange(4) * np.pi / 2
        mask = polygon_mask(centre[0] + half * np.cos(corners), centre[1] + half * np.sin(corners), (256, 256))
        offsets.append(centre[0] - np.nonzero(mask)[0].mean())
    return float(np.mean(offsets))


def _track_sample(refractive_index: float | None = None):
    """Seed 3's sample with a thick film (80 um), its crystal 22 um off the mid-plane and placed so it
    stays in the small camera's view (no cluster members, so the crystal mask is one box)."""
    sample = random_sample(3, with_crystal=True, crystal_anywhere_in_film=True)
    crystal = dataclasses.replace(sample.crystal, centre_normal_mm=DEPTH_MM)
    assert crystal.half_size_mm[2] < 0.5 * FILM_MM - DEPTH_MM, "the crystal must stay inside the film"
    sample = dataclasses.replace(sample, film_thickness_mm=FILM_MM, crystal=crystal, cluster=())
    if refractive_index is not None:
        sample = dataclasses.replace(sample, refractive_index=refractive_index)
    across, normal = sample.loop_axes
    in_loop = crystal.centre_across_mm * across + crystal.centre_normal_mm * normal
    return dataclasses.replace(
        sample,
        pin_tip_x_mm=-(sample.stem_length_mm + sample.loop_half_length_mm + crystal.centre_along_mm),
        offset_u_mm=CRYSTAL_UW_MM[0] - in_loop[0],
        offset_w_mm=CRYSTAL_UW_MM[1] - in_loop[1],
    )


def _truth(sample) -> dict[str, float]:
    """The slab parameters of the sample's crystal in pixels: the circle through the renderer's own
    projection (v(0) = c + a, v(180) = c - a, v(90) = c + b), the film from the sample."""
    x, u, w = sample.crystal_centre_rotating_mm()
    rows = {omega: float(Projector(CAMERA, GoniometerPositions(omega_deg=omega)).pixels(x, u, w)[0]) for omega in (0, 90, 180)}
    c = 0.5 * (rows[0] + rows[180])
    a, b = 0.5 * (rows[0] - rows[180]), rows[90] - c
    half = 0.5 * sample.film_thickness_mm
    depth = sample.crystal.centre_normal_mm
    return {
        "c": c,
        "a": a,
        "b": b,
        "r": float(np.hypot(a, b)),
        "alpha": float(np.rad2deg(np.arctan2(b, a))),
        "beta": sample.loop_plane_angle_deg,
        "d_plus": (half - depth) / CAMERA.pixel_size_mm,
        "d_minus": (half + depth) / CAMERA.pixel_size_mm,
        "refractive_index": sample.refractive_index,
    }


def _render_track(sample, mask_offset_px: float) -> dict:
    frames = [render(sample, CAMERA, GoniometerPositions(omega_deg=omega), BACKGROUND, noise_seed=i) for i, omega in enumerate(OMEGA_DEG)]
    centroid_rows = []
    for frame in frames:
        rows, _ = np.nonzero(frame.masks["crystal"])
        assert rows.size > 20 and rows.min() > 0 and rows.max() < CAMERA.shape_px[0] - 1, "the crystal must be in view"
        centroid_rows.append(rows.mean() + mask_offset_px)
    return {
        "sample": sample,
        "truth": _truth(sample),
        "centroid_rows": np.array(centroid_rows),
        "click_rows": np.array([frame.click_px[0] for frame in frames]),
    }


@pytest.fixture(scope="module")
def mask_offset_px() -> float:
    offset = _polygon_mask_offset_px()
    assert abs(offset - 0.5) < 0.05 or abs(offset) < 0.05, f"unexpected polygon raster offset {offset:.3f} px"
    return offset


@pytest.fixture(scope="module")
def refracting_track(mask_offset_px) -> dict:
    return _render_track(_track_sample(), mask_offset_px)


@pytest.fixture(scope="module")
def plain_track(mask_offset_px) -> dict:
    """The same sample with a film of refractive index 1: the crystal's image is not shifted."""
    return _render_track(_track_sample(refractive_index=1.0), mask_offset_px)


@pytest.fixture(scope="module")
def refracting_fit(refracting_track):
    return fit_slab(OMEGA_DEG, refracting_track["centroid_rows"])


def _compare_beta(fit, truth) -> tuple[float, float, float]:
    """(beta error in degrees, fitted d_plus, fitted d_minus) with the fit's beta brought to the truth's
    half turn: beta and beta + 180 are the same film with its faces' depths exchanged."""
    step = fit.beta_deg - truth["beta"]
    half_turns = int(np.round(step / 180.0))
    d_plus, d_minus = (fit.d_minus, fit.d_plus) if half_turns % 2 else (fit.d_plus, fit.d_minus)
    return step - 180.0 * half_turns, d_plus, d_minus


def test_displacement_formula_matches_the_ray_tracer():
    """D from the closed formula equals the Snell's-law ray tracing of apparent_positions, set up as
    the renderer does (face through the film centre +- half the thickness, facing the camera)."""
    rng = np.random.default_rng(20261124)
    faces_seen = {"plus": 0, "minus": 0}
    worst_mm = 0.0
    for _ in range(300):
        beta, omega = rng.uniform(0, 180), rng.uniform(0, 360)
        film, n = rng.uniform(0.01, 0.1), rng.uniform(1.0, 1.6)
        offset = rng.uniform(-0.5, 0.5) * film  # point's depth from the mid-plane along +normal
        centre = rng.uniform(-0.2, 0.2, 3)  # film centre (x, u, w)
        in_plane = rng.uniform(-0.05, 0.05, 2)  # (along x, across) from the film centre
        across = np.array([np.cos(np.deg2rad(beta)), np.sin(np.deg2rad(beta))])
        normal = np.array([-np.sin(np.deg2rad(beta)), np.cos(np.deg2rad(beta))])
        projector = Projector(CAMERA, GoniometerPositions(omega_deg=omega, alignment_z_mm=rng.uniform(-0.1, 0.1)))
        point_uw = centre[1:] + in_plane[1] * across + offset * normal
        point = projector.lab_points(centre[0] + in_plane[0], *point_uw)
        face_normal = projector.lab_direction(normal)
        plus = face_normal @ VIEW_DIRECTION >= 0
        faces_seen["plus" if plus else "minus"] += 1
        facing = face_normal if plus else -face_normal
        face_point = projector.lab_points(*centre)[0] + 0.5 * film * facing
        apparent = apparent_positions(point, face_point, face_normal, n, VIEW_DIRECTION)
        traced_shift = apparent[0, 2] - point[0, 2]
        formula_shift = float(slab_displacement(omega, beta, 0.5 * film - offset, 0.5 * film + offset, n))
        worst_mm = max(worst_mm, abs(traced_shift - formula_shift))
    assert worst_mm < 1e-9, f"formula and ray tracer differ by {worst_mm:.3g} mm"
    assert min(faces_seen.values()) > 100, faces_seen


def test_rendered_click_track_is_the_slab_model_with_the_true_parameters(refracting_track):
    """End to end through render(): click_px (the refracted crystal centre) is c + a cos + b sin - D,
    i.e. shift_sign = -1 for the simulated beamline (rows grow downwards)."""
    truth = refracting_track["truth"]
    omega = np.deg2rad(OMEGA_DEG)
    refraction = slab_displacement(OMEGA_DEG, truth["beta"], truth["d_plus"], truth["d_minus"], truth["refractive_index"])
    model = truth["c"] + truth["a"] * np.cos(omega) + truth["b"] * np.sin(omega) - refraction
    assert np.abs(model - refracting_track["click_rows"]).max() < 1e-9
    # The refraction term is large here: it spans ~115 px (it jumps by a film thickness where the
    # camera's view changes face) against a circle of 39 px radius.
    assert np.ptp(refraction) > 100


def test_slab_fit_recovers_the_rendered_crystal(refracting_track, refracting_fit):
    """Fitted to the crystal-mask centroids of 48 rendered frames (pixelisation noise ~0.13 px), every
    parameter agrees with the truth within 3 stated sigmas (measured: all within 1.6)."""
    truth, fit = refracting_track["truth"], refracting_fit
    assert fit.n_inliers >= 46
    assert fit.residual_rms < 0.3
    beta_error, d_plus, d_minus = _compare_beta(fit, truth)
    deviations = {
        "c": (fit.c - truth["c"]) / fit.c_sigma,
        "r": (fit.r - truth["r"]) / fit.r_sigma,
        "alpha": ((fit.alpha_deg - truth["alpha"] + 180) % 360 - 180) / fit.alpha_sigma_deg,
        "beta": beta_error / fit.beta_sigma_deg,
        "d_plus": (d_plus - truth["d_plus"]) / fit.d_plus_sigma,
        "d_minus": (d_minus - truth["d_minus"]) / fit.d_minus_sigma,
        "refractive_index": (fit.refractive_index - truth["refractive_index"]) / fit.refractive_index_sigma,
    }
    assert all(abs(z) < 3 for z in deviations.values()), deviations
    # ... and the sigmas are small: the fit pins the crystal to a tenth of a pixel.
    assert fit.c_sigma < 0.1 and fit.r_sigma < 0.3 and fit.beta_sigma_deg < 0.3 and max(fit.d_plus_sigma, fit.d_minus_sigma) < 0.5
    assert abs(fit.a - truth["a"]) < 0.3 and abs(fit.b - truth["b"]) < 0.3
    # The refraction term alone, with its sign, is the model minus the circle.
    omega = np.deg2rad(OMEGA_DEG)
    circle_part = fit.c + fit.a * np.cos(omega) + fit.b * np.sin(omega)
    np.testing.assert_allclose(fit.predict(OMEGA_DEG) - circle_part, fit.displacement(OMEGA_DEG), atol=1e-9)


def test_centring_on_the_slab_fit_puts_the_crystal_on_the_axis(refracting_track, refracting_fit):
    """centring_move takes a SlabFit unchanged: its move brings the true crystal onto the axis within
    0.3 um, where the circle fitted to the same track would leave it ~13 um off."""
    u_mm, w_mm = CRYSTAL_UW_MM
    circle = fit_circle(OMEGA_DEG, refracting_track["centroid_rows"])
    moves = {name: centring_move(fit, 160.0, 0.1, CAMERA.beam_position_px, CAMERA.pixel_size_um) for name, fit in (("slab", refracting_fit), ("circle", circle))}
    miss_um = {name: 1000 * np.hypot(move.centring_x_mm + u_mm, move.centring_y_mm + w_mm) for name, move in moves.items()}
    assert miss_um["slab"] < 0.3, miss_um
    assert miss_um["circle"] > 10.0, miss_um
    assert moves["slab"].centring_x_sigma_mm < 1e-4 and moves["slab"].alignment_z_sigma_mm < 1e-4


def test_model_selection_chooses_the_slab_for_a_refracting_crystal(refracting_track):
    """BIC on the same 48 points: circle ~ +290 (rms 18 px), slab ~ -172 (rms 0.13 px)."""
    truth = refracting_track["truth"]
    choice = select_movement_model(OMEGA_DEG, refracting_track["centroid_rows"])
    assert choice.model == "slab" and choice.fit is choice.slab
    assert choice.bic_slab < choice.bic_circle - 100, (choice.bic_slab, choice.bic_circle)
    assert choice.compared_points.sum() == OMEGA_DEG.size
    circle_miss = np.hypot(choice.circle.a - truth["a"], choice.circle.b - truth["b"])
    slab_miss = np.hypot(choice.slab.a - truth["a"], choice.slab.b - truth["b"])
    assert circle_miss > 10.0 and slab_miss < 0.3, (circle_miss, slab_miss)
    assert choice.circle.residual_rms > 10.0
    record = choice.as_record()
    assert record["model"] == "slab" and isinstance(record["bic_slab"], float)
    assert all(isinstance(value, (float, str)) for value in record.values())


def test_model_selection_chooses_the_circle_without_refraction(plain_track):
    """With a film of index 1 the crystal's image moves on its circle: the slab's four extra
    parameters buy no better fit (BIC circle ~ -224, slab ~ -209), and the slab fit reports that the
    film is not seen: depths near zero, beta and n undetermined (huge or infinite sigmas)."""
    truth = plain_track["truth"]
    choice = select_movement_model(OMEGA_DEG, plain_track["centroid_rows"])
    assert choice.model == "circle" and choice.fit is choice.circle
    assert choice.bic_circle < choice.bic_slab, (choice.bic_circle, choice.bic_slab)
    assert np.hypot(choice.fit.a - truth["a"], choice.fit.b - truth["b"]) < 0.3
    slab = choice.slab
    assert max(slab.d_plus, slab.d_minus) < 1.0
    assert slab.beta_sigma_deg > 10.0 and slab.refractive_index_sigma > 0.1


def test_model_selection_with_few_points_keeps_the_circle(refracting_track):
    choice = select_movement_model(OMEGA_DEG[::6], refracting_track["centroid_rows"][::6])
    assert choice.model == "circle" and choice.slab is None and np.isnan(choice.bic_slab)
    assert "8 points, the slab model needs 10" in choice.reason
    narrow = select_movement_model(OMEGA_DEG[:20], refracting_track["centroid_rows"][:20])
    assert narrow.model == "circle" and narrow.slab is None and "180" in narrow.reason


def test_a_twelve_frame_sweep_that_misses_the_crystal_edge_on_is_fitted_with_refraction(refracting_track):
    """A 12-frame sweep (30 degree steps) without its two views nearest to edge-on, where the film's
    refraction is strongest and a real film hides the crystal: 10 points still get the slab model,
    which finds the crystal's circle within 0.3 px where the circle misses it by more than 10 px
    (measured: 0.13 against 10.5 px; every other pair of opposite views dropped gives 0.05-0.10 px)."""
    truth = refracting_track["truth"]
    omega, rows = OMEGA_DEG[::4], refracting_track["centroid_rows"][::4]
    shift = np.abs(slab_displacement(omega, truth["beta"], truth["d_plus"], truth["d_minus"], truth["refractive_index"]))
    edge_on = int(np.argmax(shift[:6] + shift[6:]))
    seen = np.ones(omega.size, dtype=bool)
    seen[[edge_on, edge_on + 6]] = False
    choice = select_movement_model(omega[seen], rows[seen])
    assert choice.model == "slab", choice.reason
    assert np.hypot(choice.fit.a - truth["a"], choice.fit.b - truth["b"]) < 0.3
    assert np.hypot(choice.circle.a - truth["a"], choice.circle.b - truth["b"]) > 10.0
    assert choice.bic_slab < choice.bic_circle - 50, (choice.bic_slab, choice.bic_circle)


def test_bic_matches_its_definition_and_guards_exact_fits():
    residuals = np.array([1.0, -2.0, 0.5, 0.0, 1.5])
    assert bic(residuals, CIRCLE_N_PARAMETERS) == pytest.approx(5 * np.log(7.5 / 5) + 3 * np.log(5))
    assert np.isfinite(bic(np.zeros(10), 7))


def test_bootstrap_sigmas_agree_with_the_jacobian(refracting_track, refracting_fit):
    """Residual bootstrap (100 refits) against inv(J^T J) * variance: measured ratios 0.9-1.15."""
    spread = bootstrap_sigmas(OMEGA_DEG, refracting_track["centroid_rows"], refracting_fit, n_resamples=100, seed=1)
    for name, sigma in refracting_fit.sigmas.items():
        ratio = spread[name] / sigma
        limit = 2.0 if name in ("c", "r", "alpha") else 3.0
        assert 1 / limit < ratio < limit, f"{name}: bootstrap {spread[name]:.4g} vs Jacobian {sigma:.4g}"


def test_outliers_are_rejected_and_the_film_recovered():
    """A synthetic track (model + 0.3 px noise) with two gross outliers: both are marked, and the
    parameters come back within 4 sigma; a start given explicitly is used instead of the multistart."""
    rng = np.random.default_rng(7)
    omega = np.sort(rng.uniform(0, 360, 36))
    c, a, b, beta, d_plus, d_minus, n = 400.0, 25.0, -60.0, 140.0, 12.0, 40.0, 1.34
    values = c + a * np.cos(np.deg2rad(omega)) + b * np.sin(np.deg2rad(omega)) - slab_displacement(omega, beta, d_plus, d_minus, n)
    values += rng.normal(0, 0.3, omega.size)
    values[[5, 20]] += [35.0, -25.0]
    fit = fit_slab(omega, values)
    assert not fit.inliers[[5, 20]].any() and fit.n_inliers == 34
    beta_error, fitted_plus, fitted_minus = _compare_beta(fit, {"beta": beta})
    assert abs(beta_error) < 4 * fit.beta_sigma_deg
    assert abs(fitted_plus - d_plus) < 4 * fit.d_plus_sigma and abs(fitted_minus - d_minus) < 4 * fit.d_minus_sigma
    assert abs(fit.a - a) < 4 * np.sqrt(fit.covariance_cab[1, 1]) and abs(fit.b - b) < 4 * np.sqrt(fit.covariance_cab[2, 2])
    again = fit_slab(omega, values, start=fit)
    assert again.c == pytest.approx(fit.c, abs=1e-6) and again.beta_deg == pytest.approx(fit.beta_deg, abs=1e-6)


def test_bad_input_is_named():
    omega = np.arange(0.0, 360.0, 30.0)
    values = 100 + 10 * np.cos(np.deg2rad(omega))
    with pytest.raises(SlabFitError, match="at least 8 finite points, got 7"):
        fit_slab(omega[:7], values[:7])
    with pytest.raises(SlabFitError, match="at least 8 finite points, got 6"):
        fit_slab(omega, np.where(omega < 180, values, np.nan))
    with pytest.raises(SlabFitError, match="omega coverage of at least 180 degrees.*cover 170"):
        fit_slab(np.linspace(0, 170, 18), np.ones(18))
    with pytest.raises(SlabFitError, match="one length"):
        fit_slab(omega, values[:-1])
    assert issubclass(SlabFitError, ValueError)
