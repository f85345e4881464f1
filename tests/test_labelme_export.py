"""Masks exported as labelme polygons (drafts for operators) read back as the same masks."""

import json

import numpy as np
import pytest
from PIL import Image
from skimage.draw import disk, ellipse, polygon

from mxsight.training.labelme import read_labelme
from mxsight.training.labelme_export import labelme_document, mask_polygons, write_labelme


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def _scene(shape=(120, 160)):
    masks = {name: np.zeros(shape, bool) for name in ("loop", "loop_inside", "crystal", "stem", "pin", "foreground")}
    masks["loop"][ellipse(60, 50, 30, 22, shape=shape)] = True
    masks["loop_inside"][ellipse(60, 50, 26, 18, shape=shape)] = True
    masks["crystal"][disk((58, 48), 7, shape=shape)] = True
    rr, cc = polygon([56, 56, 64, 64], [72, 120, 120, 72], shape=shape)
    masks["stem"][rr, cc] = True
    masks["pin"][40:80, 120:160] = True
    masks["foreground"] = np.logical_or.reduce(list(masks.values()))
    masks["foreground"][10:14, 10:14] = True  # foreground no notion covers: exported as not_background
    return masks


def test_exported_polygons_read_back_as_the_masks(tmp_path):
    masks = _scene()
    image_path = tmp_path / "frames" / "frame.png"
    image_path.parent.mkdir()
    Image.fromarray(np.full((*masks["loop"].shape, 3), 200, np.uint8)).save(image_path)
    label_path = write_labelme(tmp_path / "labels" / "frame.json", masks, image_path, click_px=(60.0, 50.0))
    document = json.loads(label_path.read_text())
    assert document["imageData"] is None and document["imagePath"] == "../frames/frame.png"
    assert {s["label"] for s in document["shapes"]} == {"loop", "loop_inside", "crystal", "stem", "pin", "not_background", "user_click"}
    example = read_labelme(label_path)
    for notion, mask in masks.items():
        assert _iou(mask, example.masks[notion]) > 0.95, notion
        assert abs(int(mask.sum()) - int(example.masks[notion].sum())) <= 0.06 * mask.sum(), notion
    assert example.click_px == pytest.approx((60.0, 50.0))


def test_each_region_is_one_polygon_and_specks_are_left_out():
    mask = np.zeros((50, 50), bool)
    mask[5:20, 5:20] = True
    mask[30:45, 25:48] = True
    mask[2, 40] = True  # one pixel: below min_area_px
    polygons = mask_polygons(mask, tolerance_px=0.5)
    assert len(polygons) == 2
    xs = sorted(p[:, 0].min() for p in polygons)
    assert xs == pytest.approx([4.5, 24.5], abs=0.01)  # x first (labelme's order), on the pixel edges


def test_empty_masks_give_no_shapes():
    document = labelme_document({"loop": np.zeros((20, 20), bool)}, "x.png")
    assert document["shapes"] == [] and document["imageHeight"] == 20
