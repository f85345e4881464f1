"""Per-frame features: which pixels count as the crystal a plan centres."""

import numpy as np

from mxsight.notions import NOTIONS
from mxsight.vision.features import crystal_mask, frame_features
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
