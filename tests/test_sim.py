import dataclasses

import numpy as np
import pytest

from mxsight.geometry.circle import fit_circle
from mxsight.sim.backgrounds import procedural_background
from mxsight.sim.projection import CameraGeometry, GoniometerPositions
from mxsight.sim.render import render
from mxsight.sim.sample_masks import sample_masks
from mxsight.sim.scene import random_sample

CAMERA = CameraGeometry(pixel_size_um=1.8, beam_position_px=(512.0, 680.0))


def test_face_on_loop_area_matches_the_ellipse():
    sample = dataclasses.replace(
        random_sample(4, with_crystal=False),
        loop_plane_angle_deg=0.0,
        film_thickness_mm=0.0,
        loop_half_length_mm=0.15,
        loop_half_width_mm=0.1,
        loop_taper=0.0,
    )
    masks = sample_masks(sample, CAMERA, GoniometerPositions(omega_deg=0.0))
    pixel = CAMERA.pixel_size_mm
    analytic = np.pi * 0.15 * 0.1 / pixel**2
    assert masks["loop_inside"].sum() == pytest.approx(analytic, rel=0.02)


def test_masks_nest_and_are_deterministic():
    for seed in range(6):
        sample = random_sample(seed, with_crystal=True)
        for omega in (0.0, 37.0, 95.0):
            masks = sample_masks(sample, CAMERA, GoniometerPositions(omega_deg=omega))
            assert masks["crystal"].any()
            assert not (masks["crystal"] & ~masks["loop_inside"]).any()
            assert not (masks["loop_inside"] & ~masks["loop"]).any()
            assert not (masks["loop"] & ~masks["foreground"]).any()
            assert not (masks["pin"] & masks["stem"]).any()
    background = procedural_background(CAMERA.shape_px)
    first = render(random_sample(9), CAMERA, GoniometerPositions(omega_deg=10), background, noise_seed=3)
    second = render(random_sample(9), CAMERA, GoniometerPositions(omega_deg=10), background, noise_seed=3)
    assert np.array_equal(first.image, second.image)


def test_loop_centre_projects_on_the_circle_model():
    sample = random_sample(2)
    rows = []
    omegas = np.arange(0, 360, 60.0)
    background = procedural_background(CAMERA.shape_px)
    for omega in omegas:
        rows.append(render(sample, CAMERA, GoniometerPositions(omega_deg=omega), background).loop_centre_px[0])
    x, u, w = sample.loop_centre_rotating_mm()
    radius_px = np.hypot(u, w) / CAMERA.pixel_size_mm
    fit = fit_circle(omegas, rows)
    assert fit.r == pytest.approx(radius_px, abs=1e-6)
    assert fit.c == pytest.approx(CAMERA.beam_position_px[0], abs=1e-6)


def test_background_of_the_wrong_size_is_an_error():
    with pytest.raises(ValueError, match="background is"):
        render(random_sample(0), CAMERA, GoniometerPositions(), np.zeros((10, 10, 3), np.uint8))


def test_refraction_shift_matches_snells_law_by_hand():
    from mxsight.sim.optics import apparent_positions

    n, theta_deg, depth_mm = 1.33, 30.0, 0.02
    theta = np.deg2rad(theta_deg)
    normal = np.array([0.0, np.cos(theta), np.sin(theta)])
    point = -depth_mm * normal
    (apparent,) = apparent_positions(point[None, :], np.zeros(3), normal, n, np.array([0.0, 1.0, 0.0]))
    inside = np.arcsin(np.sin(theta) / n)
    by_hand_mm = depth_mm * np.sin(theta - inside) / np.cos(inside)
    assert by_hand_mm == pytest.approx(0.002974, abs=1e-6)
    assert abs(apparent[2] - point[2]) == pytest.approx(by_hand_mm, rel=1e-9)
    assert apparent @ normal == pytest.approx(0.0, abs=1e-12)


def test_crystal_appearance_is_refracted_but_the_loop_is_not():
    sample = random_sample(3, with_crystal=True)
    positions = GoniometerPositions(omega_deg=30.0)
    in_water = sample_masks(sample, CAMERA, positions)
    in_vacuum = sample_masks(dataclasses.replace(sample, refractive_index=1.0), CAMERA, positions)
    assert np.array_equal(in_water["loop_inside"], in_vacuum["loop_inside"])
    assert not np.array_equal(in_water["crystal"], in_vacuum["crystal"])


def test_orientations_are_exact_transposes_and_mirrors():
    from mxsight.sim.render import Optics

    sample = random_sample(6, with_crystal=True, ice_probability=1.0, capillary_probability=1.0)
    background = procedural_background(CAMERA.shape_px)
    positions = GoniometerPositions(omega_deg=40.0)
    base = render(sample, CAMERA, positions, background, noise_seed=1, optics=Optics(noise_sigma=0.0))
    turned = render(sample, CAMERA, positions, background, noise_seed=1, optics=Optics(noise_sigma=0.0, spindle="vertical", pin_side="right"))
    expected = np.swapaxes(base.image[:, ::-1], 0, 1)
    assert np.array_equal(turned.image, expected)
    for notion, mask in base.masks.items():
        assert np.array_equal(turned.masks[notion], np.swapaxes(mask[:, ::-1], 0, 1)), notion
    row, col = base.click_px
    assert turned.click_px == pytest.approx((CAMERA.shape_px[1] - 1 - col, row))


def test_ice_and_capillary_are_labelled_and_nested_in_the_foreground():
    sample = random_sample(6, ice_probability=1.0, capillary_probability=1.0)
    assert sample.ice and sample.capillary_radius_mm is not None
    masks = sample_masks(sample, CAMERA, GoniometerPositions(omega_deg=10.0))
    assert masks["ice"].any() and masks["capillary"].any()
    assert not ((masks["ice"] | masks["capillary"]) & ~masks["foreground"]).any()
    clean = random_sample(6)
    assert not clean.ice and clean.capillary_radius_mm is None


def test_clusters_and_bent_loops_keep_labels_nested():
    found_cluster = found_bend = False
    for seed in range(40):
        sample = random_sample(seed, with_crystal=True, teardrop_probability=1.0)
        found_cluster |= bool(sample.cluster)
        found_bend |= sample.loop_bend_mm != 0.0
        if sample.cluster or sample.loop_bend_mm:
            masks = sample_masks(sample, CAMERA, GoniometerPositions(omega_deg=3.0 * seed))
            assert masks["crystal"].any()
            assert not (masks["crystal"] & ~masks["loop_inside"]).any()
            assert not (masks["loop_inside"] & ~masks["loop"]).any()
    assert found_cluster and found_bend
