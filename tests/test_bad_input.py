"""No sample, black or saturated frames: a named error, no motor moved, and the run still recorded."""

import pytest

from mxsight.devices.camera import CameraError, CameraTimeout
from mxsight.devices.sim import make_sim_beamline
from mxsight.plans.auto_centre import auto_centre
from mxsight.plans.errors import FitNotConfident, FrameUnusable, SampleNotFound
from mxsight.plans.sweeps import Sweep
from mxsight.storage.queries import find_alignments

TRANSLATIONS = ("centring_x", "centring_y", "alignment_y", "alignment_z")


def _positions(goniometer):
    return {name: getattr(goniometer, name).position for name in TRANSLATIONS}


@pytest.mark.parametrize(
    "case,error,words",
    [
        ("empty", SampleNotFound, "seen in 0 of 8 frames, 5 are needed, after searching"),
        ("black", FrameUnusable, "black frame"),
        ("saturated", FrameUnusable, "saturated frame"),
    ],
)
def test_failure_is_named_nothing_moves_and_run_is_recorded(RE, tiled, case, error, words):
    beamline = make_sim_beamline(seed=1, sample=None if case == "empty" else "random", write_directory=tiled.frames_directory)
    if case != "empty":
        beamline.camera.fault = case
    before = _positions(beamline.goniometer)
    sample_id = f"bad-{case}"
    with pytest.raises(error, match=words):
        RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id=sample_id))
    assert _positions(beamline.goniometer) == before
    (uid,) = list(find_alignments(tiled.client, sample_id=sample_id))
    run = tiled.client[uid]
    stop = run.metadata["stop"]
    assert stop["exit_status"] == "fail"
    assert stop["reason"].startswith(error.__name__)
    frames = run["primary"]["oav_image"].shape[0]
    # the fine sweep's first frame shows no whole loop, so the coarse sweep's 8 frames decide
    assert frames > 9 if case == "empty" else frames == 1 + 8, frames
    assert list(run["results"]["results_outcome"].read()) == ["abandoned", error.__name__]
    looked = str(run["results"]["results_message"].read()[0])
    assert ("does not show the whole loop" if case == "empty" else f"is unusable ({words}") in looked, looked
    assert uid in list(find_alignments(tiled.client, outcome=error.__name__))


def test_unconfident_fit_moves_nothing(RE, tiled):
    beamline = make_sim_beamline(seed=2, write_directory=tiled.frames_directory)
    before = _positions(beamline.goniometer)
    wobble = iter([0.0, 0.3, -0.25, 0.2, -0.3, 0.25, -0.2, 0.3])
    acquire = beamline.camera.acquire_frame

    def shaken_frame():
        beamline.goniometer.centring_x.set(next(wobble))
        return acquire()

    beamline.camera.acquire_frame = shaken_frame
    with pytest.raises(FitNotConfident) as refused:
        RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="bad-shaken", sweeps=(Sweep(frames=8),)))
    beamline.goniometer.centring_x.set(0.0)
    assert _positions(beamline.goniometer) == before
    # The refusal carries what was measured: the sweep's 8 frames, and no move.
    outcome = refused.value.outcome
    assert [len(features) for features in outcome.sweep_features] == [8]
    assert outcome.solutions == [] and set(outcome.total_move_mm.values()) == {0.0}


def test_too_few_angles_is_refused_before_anything_runs(RE, tiled):
    beamline = make_sim_beamline(seed=1, write_directory=tiled.frames_directory)
    with pytest.raises(ValueError, match="at least 5"):
        RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="x", sweeps=(Sweep(frames=3),)))


@pytest.mark.parametrize(
    "fault,good_frames,error,words",
    [
        ("stuck", 0, CameraTimeout, "CameraTimeout: oav: no frame within 0.3 s"),  # delivers no frame
        ("error", 4, CameraError, "CameraError: oav: the camera reported a failure instead of frame 5"),  # fails mid-sweep
    ],
)
def test_a_failing_camera_is_named_nothing_moves_and_its_frames_are_kept(RE, tiled, fault, good_frames, error, words):
    beamline = make_sim_beamline(seed=1, write_directory=tiled.frames_directory)
    camera = beamline.camera
    camera.fault, camera.fault_after, camera.frame_timeout_s = fault, good_frames, 0.3
    before = _positions(beamline.goniometer)
    with pytest.raises(error, match=words.split(": ", 1)[1]):
        RE(auto_centre(camera, beamline.goniometer, beamline.zoom, sample_id=f"{fault}-camera"))
    assert _positions(beamline.goniometer) == before
    (uid,) = list(find_alignments(tiled.client, sample_id=f"{fault}-camera"))
    run = tiled.client[uid]
    assert run.metadata["stop"]["exit_status"] == "fail" and run.metadata["stop"]["reason"].startswith(words)
    frames = run["primary"]["oav_image"].shape[0] if "primary" in run else 0
    assert frames == good_frames  # the frames taken before the failure
