"""auto_centre with a real RunEngine, the simulated beamline and the embedded Tiled server."""

import numpy as np
import pytest

from mxsight.devices.sim import make_sim_beamline
from mxsight.plans.auto_centre import auto_centre
from mxsight.storage.queries import find_alignments
from mxsight.vision.segmenter import Segmenter

SEEDS = range(10)


def _recording(camera):
    """Keep a copy of every frame the camera renders."""
    rendered = []
    acquire = camera.acquire_frame

    def acquire_and_keep():
        frame = acquire()
        rendered.append(frame.copy())
        return frame

    camera.acquire_frame = acquire_and_keep
    return rendered


@pytest.fixture(scope="module")
def alignments(tiled):
    from bluesky import RunEngine

    RE = RunEngine({}, call_returns_result=True)
    RE.subscribe(tiled.writer())
    results = []
    for seed in SEEDS:
        beamline = make_sim_beamline(seed=seed, write_directory=tiled.frames_directory)
        rendered = _recording(beamline.camera)
        before = beamline.loop_centre_errors_um()
        result = RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id=f"e2e-{seed}"))
        results.append((seed, before, beamline.target_errors_um(result.plan_result.target), result, rendered))
    return results


def test_loop_centre_ends_on_axis_and_beam(alignments):
    for seed, before, after, result, _ in alignments:
        assert before["from_beam_um"] > 20, f"seed {seed} started centred; the test would prove nothing"
        assert after["from_axis_um"] < 10, (seed, after)
        assert after["from_beam_um"] < 10, (seed, after)
        assert result.exit_status == "success"


def test_every_frame_reads_back_identical_from_tiled(alignments, tiled):
    seed, _, _, result, rendered = alignments[0]
    run = tiled.client[result.run_start_uids[0]]
    images = run["primary"]["oav_image"].read()
    assert images.shape == (len(rendered), 1024, 1360, 3)
    for index, frame in enumerate(rendered):
        assert np.array_equal(np.asarray(images[index]), frame), f"frame {index} differs"


def test_predictions_stream_has_one_entry_per_frame(alignments, tiled):
    for _, _, _, result, rendered in alignments[:3]:
        run = tiled.client[result.run_start_uids[0]]
        predictions = run["predictions"]
        assert len(predictions["predictions_omega_deg"].read()) == len(rendered)
        masks = predictions["predictions_masks"]
        assert masks.shape == (len(rendered), 1024, 1360)
        assert np.asarray(predictions["predictions_present"].read()).all()
        primary_omega = np.asarray(run["primary"]["gonio_omega"].read())
        assert np.allclose(np.asarray(predictions["predictions_omega_deg"].read()), primary_omega)
        outcome = np.asarray(run["results"]["results_outcome"].read())
        # the coarse sweep skipped after the fine sweep's look, or run first after the look was abandoned
        expected = {(1,): ["skipped", "moved"], (0, 1): ["abandoned", "moved", "moved"]}[tuple(result.plan_result.passes)]
        assert list(outcome) == expected


def test_run_metadata_and_query_by_sample(alignments, tiled):
    _, _, _, result, _ = alignments[4]
    uid = result.run_start_uids[0]
    found = list(find_alignments(tiled.client, sample_id="e2e-4"))
    assert found == [uid]
    start = tiled.client[uid].metadata["start"]
    assert start["plan_name"] == "auto_centre"
    assert start["zoom"] == 5 and start["pixel_size_um"] == pytest.approx(1.8)
    assert start["beam_position_px"] == [512.0, 680.0]
    assert start["spindle"] == "horizontal" and start["model_name"] == "network"
    assert start["segmenter"] == "network, checked, else classical"
    assert start["model_version"] == Segmenter.default().version
    assert uid in list(find_alignments(tiled.client, outcome="success", since="2020-01-01"))
    assert list(find_alignments(tiled.client, sample_id="e2e-4", until="2020-01-01")) == []
    with pytest.raises(ValueError, match="cannot read 'last tuesday' as a date"):
        find_alignments(tiled.client, since="last tuesday")
