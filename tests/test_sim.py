import dataclasses

import numpy as np
import pytest

from mxsight.geometry.circle import fit_circle
from mxsight.sim.backgrounds import procedural_background
from mxsight.sim.render import CameraGeometry, GoniometerPositions, render, sample_masks
from mxsight.sim.scene import random_sample

CAMERA = CameraGeometry(pixel_size_um=1.8, beam_position_px=(512.0, 680.0))


def test_face_on_loop_area_matches_the_ellipse():
    sample = dataclasses.replace(
        random_sample(4, with_crystal=False),
        loop_plane_angle_deg=0.0,
        film_thickness_mm=0.0,
        loop_half_length_mm=0.15,
        loop_half_width_mm=0.1,
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
