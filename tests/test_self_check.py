"""The segmenter's self-check: a loop taken for the pin, or a foreground the empty field does not
show, makes a frame unsure; a sweep of such frames is refused with no motor moved, or taken again
with the classical segmenter when asked."""

import numpy as np
import pytest
from truth import TruthSegmenter

from mxsight.devices.sim import make_sim_beamline
from mxsight.plans.auto_centre import auto_centre
from mxsight.plans.errors import SegmentationNotTrusted
from mxsight.storage.queries import find_alignments
from mxsight.vision.classical import empty_field_foreground
from mxsight.vision.prediction import Prediction
from mxsight.vision.self_check import SelfCheckSettings, check_prediction

MOVED = ("centring_x", "centring_y", "alignment_y")


def _sample_masks(shape=(60, 100), loop_as_pin=False):
    """Pin entering from the left edge, a stem, and a loop at the free end (columns 70-90)."""
    masks = {n: np.zeros(shape, bool) for n in ("crystal", "loop_inside", "loop", "stem", "pin", "capillary", "ice", "foreground")}
    masks["pin"][20:40, 0:40] = True
    masks["stem"][28:32, 40:70] = True
    loop = np.zeros(shape, bool)
    loop[18:42, 70:91] = True
    masks["pin" if loop_as_pin else "loop"] |= loop
    masks["foreground"] = masks["pin"] | masks["stem"] | loop
    return masks


def _prediction(masks):
    probabilities = {n: m.astype(np.float32) for n, m in masks.items()}
    return Prediction(masks=masks, probabilities=probabilities, click=None, present=bool(masks["loop"].any()))


def test_a_loop_labelled_pin_fails_the_structure_check():
    assert check_prediction(_prediction(_sample_masks())) == ""
    reason = check_prediction(_prediction(_sample_masks(loop_as_pin=True)))
    assert "free end is labelled pin (100%" in reason
    flipped = {n: m[:, ::-1] for n, m in _sample_masks(loop_as_pin=True).items()}  # the pin entering from the right
    assert "labelled pin" in check_prediction(_prediction(flipped))
    vertical = {n: m.T for n, m in _sample_masks(loop_as_pin=True).items()}
    assert "labelled pin" in check_prediction(_prediction(vertical), spindle="vertical")
    assert check_prediction(_prediction({n: m.T for n, m in _sample_masks().items()}), spindle="vertical") == ""
    with pytest.raises(ValueError, match="spindle"):
        check_prediction(_prediction(_sample_masks()), spindle="diagonal")


def test_a_camera_turned_against_the_spindle_hint_is_still_checked():
    vertical = {n: m.T for n, m in _sample_masks(loop_as_pin=True).items()}
    assert "labelled pin" in check_prediction(_prediction(vertical), spindle="horizontal")
    assert check_prediction(_prediction({n: m.T for n, m in _sample_masks().items()}), spindle="horizontal") == ""


def test_a_free_end_labelled_nothing_fails():
    masks = _sample_masks()
    masks["loop"][:] = False  # foreground at the free end, but no notion
    assert "neither loop" in check_prediction(_prediction(masks))


def test_dust_beyond_the_sample_is_not_its_free_end():
    masks = _sample_masks()
    masks["foreground"][5:8, 96:99] = True  # a speck on the lens, foreground only
    assert check_prediction(_prediction(masks)) == ""



def test_a_loop_labelled_in_separate_pieces_fails_and_a_speck_does_not():
    """A loop is one object: a loop region in two sizeable pieces with stem between them is a loop the
    segmenter did not understand (a long loop cut by stem); a speck of crust beside the loop is not."""
    masks = _sample_masks()
    cut = {**masks, "loop": masks["loop"].copy(), "stem": masks["stem"].copy()}
    cut["loop"][:, 78:82] = False  # the loop cut across: two pieces of 8 and 9 columns
    cut["stem"][28:32, 78:82] = True
    cut["foreground"] = cut["foreground"].copy()
    cut["foreground"][:, 78:82] = cut["loop"][:, 78:82] | cut["stem"][:, 78:82]
    assert "loop is labelled in 2 separate pieces" in check_prediction(_prediction(cut))
    speck = {**masks, "loop": masks["loop"].copy()}
    speck["loop"][50:53, 60:63] = True  # 9 px against the loop's 504
    speck["foreground"] = speck["foreground"] | speck["loop"]
    assert check_prediction(_prediction(speck)) == ""
    drop = {**masks, "loop": masks["loop"].copy()}
    drop["loop"][4:18, 46:62] = True  # a drop on the window labelled loop, apart from the sample: not its loop
    drop["foreground"] = drop["foreground"] | drop["loop"]
    assert check_prediction(_prediction(drop)) == ""
    assert check_prediction(_prediction(cut), settings=SelfCheckSettings(max_loop_piece_fraction=1.0)) == ""

def test_a_sample_that_reaches_no_edge_of_the_view_fails():
    masks = _sample_masks()
    floating = {n: np.roll(m, 5, axis=1) for n, m in masks.items()}  # the same sample, its pin 5 px off the edge
    assert "reaches no edge of the view" in check_prediction(_prediction(floating))
    assert check_prediction(_prediction({n: np.roll(m, 2, axis=1) for n, m in masks.items()})) == ""  # within edge_px
    dust = {n: np.zeros_like(m) for n, m in masks.items()}
    dust["loop"][25:35, 45:55] = dust["foreground"][25:35, 45:55] = True  # a drop on the window taken for a loop
    assert "reaches no edge of the view" in check_prediction(_prediction(dust))
    dust["loop"][:] = False  # the same patch in the foreground of a frame judged empty is harmless
    assert check_prediction(_prediction(dust)) == ""


def test_a_tracked_window_and_a_speck_on_another_edge_do_not_fail_a_mounted_sample():
    masks = _sample_masks()
    window = {n: m.copy() for n, m in masks.items()}
    for notion in ("stem", "foreground"):
        window[notion][:, 60:70] = False  # the stem where it leaves the window, too thin to be labelled
    tracked = _prediction(window)
    tracked.labelled_region = (10, 60, 40, 40)  # a frame tracked from the one before: the loop's window
    assert "reaches no edge" in check_prediction(_prediction({n: m[10:50, 60:100] for n, m in window.items()}))  # as a whole frame
    assert check_prediction(tracked) == ""
    vertical = {n: m.T.copy() for n, m in masks.items()}  # the pin entering from the top
    vertical["foreground"][50:53, 0:3] = True  # a speck on a side edge
    assert check_prediction(_prediction(vertical), spindle="horizontal") == ""


def test_the_foreground_is_checked_against_the_empty_field():
    masks = _sample_masks()
    field = np.full((60, 100, 3), 200, np.uint8)
    frame = field.copy()
    frame[masks["foreground"]] = 60
    seen = empty_field_foreground(frame, field, min_object_px=10)
    assert check_prediction(_prediction(masks), seen) == ""
    assert "does not differ from the empty field" in check_prediction(_prediction(masks), np.zeros_like(seen))
    nothing = {n: np.zeros_like(m) for n, m in masks.items()}
    assert "where nothing is labelled" in check_prediction(_prediction(nothing), seen)
    shifted = {n: np.roll(m, 30, axis=1) for n, m in masks.items()}
    assert "IoU" in check_prediction(_prediction(shifted), seen, settings=SelfCheckSettings(min_foreground_iou=0.6))
    with pytest.raises(ValueError, match="min_foreground_iou"):
        SelfCheckSettings(min_foreground_iou=1.5)


class LoopAsPinSegmenter(TruthSegmenter):
    """The exact masks with the loop region labelled pin: a liquid-filled loop as the shipped network
    labels it on real back-lit cameras."""

    name = "loop-as-pin"

    def _predict_usable(self, images):
        predictions = super()._predict_usable(images)
        for prediction in predictions:
            masks = dict(prediction.masks)
            region = masks["loop"] | masks["loop_inside"] | masks["crystal"]
            masks["pin"] = masks["pin"] | region
            for notion in ("loop", "loop_inside", "crystal"):
                masks[notion] = np.zeros_like(region)
            prediction.masks = masks
        return predictions


def _positions(goniometer):
    return {name: getattr(goniometer, name).position for name in MOVED}


def test_a_sweep_of_loops_labelled_pin_is_refused_with_no_motor_moved(RE, tiled):
    beamline = make_sim_beamline(seed=11, zoom_level=5, write_directory=tiled.frames_directory)
    before = _positions(beamline.goniometer)
    segmenter = LoopAsPinSegmenter(beamline.camera)
    with pytest.raises(SegmentationNotTrusted, match="failed the segmentation self-check"):
        RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="loop-as-pin", segmenter=segmenter, search=None))
    assert _positions(beamline.goniometer) == before
    run = tiled.client[list(find_alignments(tiled.client, sample_id="loop-as-pin"))[-1]]
    reasons = [r for r in run["predictions"]["predictions_unsure_reason"].read() if r]
    assert reasons and all("labelled pin" in r for r in reasons)
    assert list(run["results"]["results_outcome"].read())[-1] == "SegmentationNotTrusted"


def test_an_untrusted_sweep_falls_back_to_the_classical_segmenter_when_asked(RE, tiled):
    beamline = make_sim_beamline(seed=11, zoom_level=5, write_directory=tiled.frames_directory)
    segmenter = LoopAsPinSegmenter(beamline.camera)
    RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="loop-as-pin-fallback", segmenter=segmenter, search=None, on_untrusted="classical"))
    run = tiled.client[list(find_alignments(tiled.client, sample_id="loop-as-pin-fallback"))[-1]]
    outcomes = list(run["results"]["results_outcome"].read())
    messages = list(run["results"]["results_message"].read())
    fallback = outcomes.index("fallback")
    assert "taken again with the classical segmenter" in messages[fallback]
    assert outcomes[-1] == "moved"
    assert run.metadata["start"]["on_untrusted"] == "classical"
    assert beamline.loop_centre_errors_um()["from_beam_um"] < 5.0
