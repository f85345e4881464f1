"""record_empty_fields: the empty field per zoom with the sample moved out, recorded in Tiled, read
back for the camera, and everything put back where it was."""

import numpy as np
import pytest

from mxsight.devices.sim import make_sim_beamline
from mxsight.plans.empty_fields import record_empty_fields
from mxsight.plans.errors import MoveOutOfLimits
from mxsight.storage.empty_fields import EmptyFieldsNotRecorded, load_empty_fields

MOTORS = ("omega", "centring_x", "centring_y", "alignment_y", "alignment_z")


def _positions(goniometer):
    return {name: getattr(goniometer, name).position for name in MOTORS}


def test_empty_fields_are_recorded_read_back_and_used(RE, tiled):
    beamline = make_sim_beamline(seed=5, zoom_level=5, write_directory=tiled.frames_directory)
    camera, goniometer, zoom = beamline.camera, beamline.goniometer, beamline.zoom
    renderer_fields = {level: None for level in (1, 5)}
    before = _positions(goniometer)
    result = RE(record_empty_fields(camera, goniometer, zoom, move_out_mm={"alignment_y": -4.5}, levels=[1, 5], frames_per_level=2, beamline="sim-test"))
    fields = result.plan_result
    assert _positions(goniometer) == before and int(zoom.level.get()) == 5
    for level in renderer_fields:
        zoom.set(level)
        truth = camera._orient(camera._horizontal_background()).astype(float)
        assert np.abs(fields[level].astype(float) - truth).mean() < 2.0  # camera noise only: nothing of the sample
    zoom.set(5)
    assert camera.reference_background() is camera.empty_fields[5]
    loaded = load_empty_fields(tiled.client, beamline="sim-test")
    assert sorted(loaded) == [1, 5] and all(np.array_equal(loaded[k], fields[k]) for k in fields)
    with pytest.raises(EmptyFieldsNotRecorded, match="'nowhere'"):
        load_empty_fields(tiled.client, beamline="nowhere")


def test_a_move_out_beyond_the_limits_is_refused_before_anything_moves(RE, tiled):
    beamline = make_sim_beamline(seed=5, zoom_level=5, write_directory=tiled.frames_directory)
    before = _positions(beamline.goniometer)
    with pytest.raises(MoveOutOfLimits, match="alignment_y"):
        RE(record_empty_fields(beamline.camera, beamline.goniometer, beamline.zoom, move_out_mm={"alignment_y": -40.0}))
    assert _positions(beamline.goniometer) == before
    with pytest.raises(ValueError, match="not calibrated"):
        RE(record_empty_fields(beamline.camera, beamline.goniometer, beamline.zoom, move_out_mm={"alignment_y": -4.5}, levels=[42]))
