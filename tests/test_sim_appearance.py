"""The simulator's looks of other cameras: liquid drops as lenses, polished pins, lighting modes,
burned-in overlays and synthetic empty fields; none of them moves a label."""

import dataclasses

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.draw import ellipse

from mxsight.sim.appearance import camera_variety, drop_lens, edge_glow, polished_pin, vignetting
from mxsight.sim.backgrounds import EMPTY_FIELD_KINDS, procedural_background, synthetic_empty_field
from mxsight.sim.overlays import burn_overlays
from mxsight.sim.projection import CameraGeometry, GoniometerPositions
from mxsight.sim.render import Optics, render
from mxsight.sim.scene import random_sample
from mxsight.training.simulated import REALISM_KNOBS, SceneMix, render_example

CAMERA = CameraGeometry(pixel_size_um=1.8, beam_position_px=(256.0, 340.0), shape_px=(512, 680))


def _disc_film(radius: int = 60) -> np.ndarray:
    film = np.zeros((200, 200), bool)
    film[ellipse(100, 100, radius, radius, shape=film.shape)] = True
    return film


def _rim_and_centre(factor: np.ndarray, film: np.ndarray) -> tuple[float, float]:
    distance = ndi.distance_transform_edt(film)
    reach = distance / distance.max()
    return float(np.median(factor[film & (reach < 0.3)])), float(np.median(factor[film & (reach > 0.95)]))


def test_a_thick_drop_images_dark_with_a_clear_centre_and_a_thin_film_stays_clear():
    film = _disc_film()
    thick = drop_lens(film, bulge=2.0, refractive_index=1.33, acceptance_rad=0.1, rng=np.random.default_rng(1))
    rim, centre = _rim_and_centre(thick, film)
    assert rim < 0.05 and centre > 0.3
    thin = drop_lens(film, bulge=0.1, refractive_index=1.33, acceptance_rad=0.1, rng=np.random.default_rng(1))
    assert np.median(thin[film]) > 0.3 and np.mean(thin[film] > 0.3) > 0.8
    assert np.all(thick[~film] == 1.0) and np.all(drop_lens(film, 0.0, 1.33, 0.1, np.random.default_rng(1)) == 1.0)


def test_a_wider_objective_sees_through_more_of_the_drop():
    film = _disc_film()
    narrow = drop_lens(film, 1.0, 1.33, 0.05, np.random.default_rng(2))
    wide = drop_lens(film, 1.0, 1.33, 0.2, np.random.default_rng(2))
    assert np.mean(wide[film] > 0.1) > np.mean(narrow[film] > 0.1) + 0.2


def test_a_drop_changes_the_image_but_not_the_labels():
    sample = random_sample(3, with_crystal=False)
    wet = dataclasses.replace(sample, drop_bulge=1.5)
    background = procedural_background(CAMERA.shape_px)
    positions = GoniometerPositions(omega_deg=0.0, alignment_y_mm=-sample.loop_centre_x_mm)
    dry_frame = render(sample, CAMERA, positions, background, noise_seed=1)
    wet_frame = render(wet, CAMERA, positions, background, noise_seed=1)
    for notion, mask in dry_frame.masks.items():
        assert np.array_equal(mask, wet_frame.masks[notion]), notion
    film = dry_frame.masks["loop_inside"]
    assert film.sum() > 500
    assert wet_frame.image[film].mean() < 0.6 * dry_frame.image[film].mean()


def test_a_polished_pin_reflects_the_lamp_and_a_dark_one_does_not():
    sample = random_sample(5, with_crystal=False)
    background = procedural_background(CAMERA.shape_px)
    positions = GoniometerPositions(omega_deg=0.0, alignment_y_mm=-sample.pin_tip_x_mm - 0.3)
    dark = render(sample, CAMERA, positions, background, noise_seed=1)
    polished = render(dataclasses.replace(sample, pin_finish="polished"), CAMERA, positions, background, noise_seed=1)
    pin = dark.masks["pin"]
    assert pin.sum() > 1000 and np.array_equal(pin, polished.masks["pin"])
    field = float(np.median(background[~dark.masks["foreground"]]))
    assert np.percentile(dark.image[pin], 99) < field
    assert np.percentile(polished.image[pin], 99) > field
    with pytest.raises(ValueError, match="pin_finish"):
        dataclasses.replace(sample, pin_finish="gold")


def test_polished_reflections_are_bands_along_the_pin():
    across = np.tile(np.linspace(0.0, 1.0, 50)[:, None], (1, 300)).astype(np.float32)
    along = np.tile(np.arange(300, dtype=np.float32)[None, :], (50, 1))
    transmission = polished_pin(across, along, np.random.default_rng(4))
    assert transmission.max() > 1.0 and transmission.min() < 0.25


def test_realism_draws_leave_the_rest_of_a_sample_as_it_was():
    for seed in range(5):
        plain = random_sample(seed, ice_probability=0.3)
        looks = random_sample(seed, ice_probability=0.3, liquid_probability=1.0, polished_pin_probability=1.0)
        assert looks.drop_bulge > 0 and looks.pin_finish == "polished"
        assert dataclasses.replace(looks, drop_bulge=0.0, pin_finish="dark") == plain


def test_the_realism_knobs_are_off_by_default_and_checked():
    assert all(getattr(SceneMix(), knob) == 0.0 for knob in REALISM_KNOBS)
    with pytest.raises(ValueError, match="overlay_probability must be in"):
        SceneMix(overlay_probability=1.5)
    plain = render_example(21, (64, 80))
    assert plain.metadata["sample"]["drop_bulge"] == 0.0 and plain.metadata["background_set"] != "synthetic"
    looks = render_example(21, (64, 80), SceneMix(**{knob: 1.0 for knob in REALISM_KNOBS}))
    assert looks.metadata["sample"]["drop_bulge"] > 0 and looks.metadata["background_set"] == "synthetic"
    for notion in plain.masks:
        assert plain.masks[notion].shape == looks.masks[notion].shape


def test_camera_variety_covers_every_lighting_mode():
    rng = np.random.default_rng(0)
    drawn = [camera_variety(Optics(), rng) for _ in range(400)]
    gains = [optics.exposure_gain for optics in drawn]
    assert min(gains) < 0.1 and max(gains) > 2.0
    dark_field = [optics for optics in drawn if optics.back_light < 1.0]
    assert 30 < len(dark_field) < 100
    assert all(optics.back_light <= 0.05 and optics.edge_glow >= 40 and not optics.front_light for optics in dark_field)
    assert all(optics.edge_glow == 0.0 for optics in drawn if optics.back_light == 1.0)
    assert len({round(optics.edge_light_rad, 3) for optics in dark_field}) == len(dark_field)
    assert vignetting((10, 10), 0.9)[0, 0] < 0.2 and vignetting((10, 10), 0.9)[5, 5] == pytest.approx(1.0)


def test_in_dark_field_the_field_is_black_and_the_outline_glows():
    """With the lamp off the frame is nearly black and the sample shows by its lit outline, as on real
    dark-field frames; the labels are those of the same sample back-lit."""
    sample, positions = random_sample(4), GoniometerPositions(omega_deg=40.0)
    background = procedural_background(CAMERA.shape_px, seed=2)
    lit = render(sample, CAMERA, positions, background, noise_seed=3)
    dark = render(sample, CAMERA, positions, background, noise_seed=3, optics=Optics(back_light=0.02, edge_glow=150.0))
    grey = dark.image.mean(axis=2)
    foreground = dark.masks["foreground"]
    outline = ndi.binary_dilation(foreground, iterations=3) & ~ndi.binary_erosion(foreground, iterations=3)
    assert np.median(grey[~ndi.binary_dilation(foreground, iterations=10)]) < 8
    assert np.percentile(grey[outline], 95) > 40
    assert np.median(grey[outline]) > 3 * np.median(grey[~ndi.binary_dilation(foreground, iterations=10)])
    assert np.median(lit.image.mean(axis=2)[~ndi.binary_dilation(foreground, iterations=10)]) > 60


def test_the_dark_field_glow_is_brightest_on_the_side_facing_the_light():
    """A disc lit from the top scatters most light from its upper rim."""
    opacity = np.zeros((200, 200), np.float32)
    opacity[ellipse(100, 100, 50, 50, shape=opacity.shape)] = 1.0
    glow = edge_glow(opacity, np.pi / 2, np.random.default_rng(0))
    assert glow.max() == pytest.approx(1.0, abs=1e-3)
    assert glow[44:56, 90:110].mean() > 2 * glow[144:156, 90:110].mean()  # the rims, rows 50 and 150
    from_the_right = edge_glow(opacity, 0.0, np.random.default_rng(0))
    assert from_the_right[90:110, 144:156].mean() > 2 * from_the_right[90:110, 44:56].mean()
    assert not edge_glow(np.zeros((50, 50), np.float32), 0.0, np.random.default_rng(0)).any()


def test_overlays_are_drawn_over_the_frame_reproducibly():
    frame = np.full((240, 320, 3), 128, np.uint8)
    first = burn_overlays(frame, np.random.default_rng(8))
    second = burn_overlays(frame, np.random.default_rng(8))
    assert first.shape == frame.shape and first.dtype == np.uint8
    assert np.array_equal(first, second)
    assert (first != frame).any(axis=-1).sum() > 50
    assert np.all(frame == 128)


def test_synthetic_empty_fields_are_of_every_kind_and_reproducible():
    fields = [synthetic_empty_field((48, 64), seed) for seed in range(40)]
    assert all(field.shape == (48, 64, 3) and field.dtype == np.uint8 for field in fields)
    assert np.array_equal(fields[3], synthetic_empty_field((48, 64), 3))
    means = [field.mean() for field in fields]
    assert max(means) - min(means) > 60
    assert len(EMPTY_FIELD_KINDS) == 5
