"""Per-frame features: which pixels count as the crystal a plan centres."""

import dataclasses

import numpy as np
import pytest

from mxsight.notions import NOTIONS
from mxsight.vision.features import crystal_mask, frame_features, iced_outline
from mxsight.vision.prediction import Prediction


def _prediction(masks: dict[str, np.ndarray]) -> Prediction:
    shape = next(iter(masks.values())).shape
    full = {notion: masks.get(notion, np.zeros(shape, bool)) for notion in NOTIONS}
    return Prediction(masks=full, probabilities={}, click=None, present=True)


def test_crystal_blobs_that_are_mostly_ice_are_not_the_crystal():
    shape = (60, 80)
    loop = np.zeros(shape, bool)
    loop[10:50, 20:70] = True
    crystal = np.zeros(shape, bool)
    crystal[20:26, 30:36] = True  # a real crystal, 36 px, a corner of it under ice
    crystal[40:46, 60:66] = True  # ice taken for a crystal too, 36 px
    ice = np.zeros(shape, bool)
    ice[40:46, 60:66] = True
    ice[20:22, 30:32] = True
    kept = crystal_mask({"crystal": crystal, "ice": ice})
    assert kept[20:26, 30:36].all() and not kept[40:46, 60:66].any()
    features = frame_features(_prediction({"loop": loop, "loop_inside": loop, "crystal": crystal, "ice": ice, "foreground": loop}), 0.0)
    assert features.crystal_px == (22.5, 32.5) and features.crystal_area_px == 36.0
    without_ice = frame_features(_prediction({"loop": loop, "loop_inside": loop, "crystal": crystal, "foreground": loop}), 0.0)
    assert without_ice.crystal_px == (32.5, 47.5) and without_ice.crystal_area_px == 72.0


def test_loop_centre_along_the_spindle_ignores_the_stem_and_a_one_sided_rim():
    rows, cols = np.mgrid[0:120, 0:260]
    centre_row, centre_col = 60.0, 150.0
    loop = ((cols - centre_col) / 70.0) ** 2 + ((rows - centre_row) / 25.0) ** 2 <= 1.0
    loop |= (np.abs(rows - centre_row) <= 1) & (cols < 80)  # the stem, leaving the loop's far end
    rim = loop.copy()  # a mask 2 px too wide on one side, over the half of the loop nearer the pin
    rim[2:, :] |= loop[:-2, :] & (cols < centre_col)[2:, :]
    for mask, tolerance_px in ((loop, 0.5), (rim, 1.5)):  # the rim moves it 1.3 px (the widest-plateau estimate: 3 px)
        features = frame_features(_prediction({"loop": mask, "loop_inside": mask, "foreground": mask}), 0.0)
        assert abs(features.target_px[1] - centre_col) < tolerance_px, features.target_px
        assert abs(features.target_px[0] - centre_row) < 1.5


def test_loop_centre_across_the_spindle_ignores_a_bulge_at_its_edge():
    rows, cols = np.mgrid[0:120, 0:260]
    centre_row, centre_col = 60.0, 150.0
    loop = ((cols - centre_col) / 70.0) ** 2 + ((rows - centre_row) / 25.0) ** 2 <= 1.0
    bulged = loop | (((cols - 160.0) / 12.0) ** 2 + ((rows - 33.0) / 6.0) ** 2 <= 1.0)  # 8 px past the top edge
    for spindle in ("horizontal", "vertical"):
        for mask in (loop, bulged):
            shown = mask if spindle == "horizontal" else mask.T
            features = frame_features(_prediction({"loop": shown, "loop_inside": shown, "foreground": shown}), 0.0, spindle)
            across = features.target_px[0] if spindle == "horizontal" else features.target_px[1]
            assert abs(across - centre_row) <= 0.5, (spindle, features.target_px)  # the extent's middle: 56.0


def _crusted_loop(blind: bool) -> tuple[np.ndarray, np.ndarray]:
    """An elliptic loop (wire 4 px thick) with an ice crust 12 px thick centred on the wire along the
    half nearer row 0; ``blind`` draws the loop to the crust's outer edge, as a segmenter does that
    cannot tell the crust from the wire."""
    rows, cols = np.mgrid[0:140, 0:260]
    radius = np.hypot((cols - 150.0) / 70.0, (rows - 70.0) / 30.0)  # 1 on the wire's centre line
    loop = radius <= 1.0 + 2.0 / 30.0
    ice = (np.abs(radius - 1.0) * 30.0 <= 6.0) & (rows < 70)
    return (loop | ice if blind else loop), ice


def test_a_loop_drawn_around_an_ice_crust_has_its_edge_along_the_ice_edge():
    exact_loop, ice = _crusted_loop(blind=False)
    on_ice, along_edge = iced_outline(exact_loop, ice)
    assert 0.4 < on_ice < 0.6 and along_edge < 0.02, (on_ice, along_edge)  # the wire's edge lies inside the crust
    blind_loop, ice = _crusted_loop(blind=True)
    on_ice, along_edge = iced_outline(blind_loop, ice)
    assert 0.4 < on_ice < 0.6 and along_edge > 0.4, (on_ice, along_edge)
    features = frame_features(_prediction({"loop": blind_loop, "loop_inside": blind_loop, "ice": ice, "foreground": blind_loop}), 0.0)
    assert (features.loop_edge_on_ice, features.loop_edge_along_ice_edge) == (on_ice, along_edge)
    assert iced_outline(blind_loop, np.zeros_like(ice)) == (0.0, 0.0)


def test_a_crust_reaching_one_pixel_past_the_loop_is_seen_and_an_empty_loop_has_no_edge():
    loop = np.zeros((60, 60), bool)
    loop[20:40, 20:40] = True
    ice = np.zeros_like(loop)
    ice[19:25, 20:40] = True  # drawn as loop down to row 20: the loop's top edge runs along the ice's
    on_ice, along_edge = iced_outline(loop, ice)
    assert on_ice > 0.3 and along_edge > 0.3, (on_ice, along_edge)
    assert iced_outline(np.zeros_like(loop), ice) == (0.0, 0.0)
    cut = np.zeros_like(loop)
    cut[:, :30] = True  # a loop running out of the image on three sides: only its right side is its edge
    border_ice = np.zeros_like(loop)
    border_ice[:, :2] = True  # ice along the image's border, not on the loop's edge
    assert iced_outline(cut, border_ice) == (0.0, 0.0)


def test_a_tracked_frame_has_the_features_of_its_window_in_frame_pixels():
    shape = (300, 400)
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    loop = ((cols - 250.0) / 40.0) ** 2 + ((rows - 120.0) / 30.0) ** 2 <= 1.0
    crystal = ((cols - 255.0) / 6.0) ** 2 + ((rows - 118.0) / 5.0) ** 2 <= 1.0
    masks = {"loop": loop, "loop_inside": loop, "crystal": crystal, "foreground": loop}
    whole = frame_features(_prediction(masks), 10.0)
    window = (60, 180, 128, 160)  # wholly inside the frame, holding the loop
    tracked = dataclasses.replace(_prediction(masks), labelled_region=window)
    features = frame_features(tracked, 10.0)
    for name in ("target_px", "bbox_px", "centroid_px", "crystal_px", "area_px", "crystal_area_px", "present"):
        assert getattr(features, name) == pytest.approx(getattr(whole, name), abs=1e-9), name
    assert np.isnan(features.tip_px).all() and not np.isnan(whole.tip_px).any()
    assert features.target_px == pytest.approx((120.0, 250.0), abs=0.5)
    # the loop reaching the window's inner side is not cut by the frame; reaching the frame's side is
    assert not frame_features(dataclasses.replace(tracked, labelled_region=(60, 180, 128, 90)), 10.0).loop_touches_edge
    cut = {**masks, "loop": loop | ((rows < 12) & (np.abs(cols - 250) < 5))}
    assert frame_features(dataclasses.replace(_prediction(cut), labelled_region=(0, 180, 128, 160)), 10.0).loop_touches_edge
    assert not frame_features(dataclasses.replace(_prediction(cut), labelled_region=(1, 180, 128, 160)), 10.0).loop_touches_edge
