"""Alignment plans on the simulated beamline, with exact masks: the refraction-aware centring of a crystal,
named failures with no motor moved, the search, continuous rotation, click_centre and raster_extents."""

import dataclasses

import numpy as np
import pytest
from truth import TruthSegmenter

from mxsight.devices.sim import make_sim_beamline
from mxsight.geometry.centring import CentringGeometry
from mxsight.devices.sim_detector import SimDiffractionDetector
from mxsight.plans.auto_centre import auto_centre
from mxsight.plans.confidence_limits import ConfidenceLimits
from mxsight.plans.click_centre import click_centre
from mxsight.plans.errors import FitNotConfident, PinNotCentrable, SampleNotFound, SampleOffScreen
from mxsight.plans.multi_orientation import Orientation, multi_orientation_collection
from mxsight.plans.raster_extents import raster_extents
from mxsight.plans.sweeps import COARSE_IF_NEEDED_THEN_FINE, COARSE_SWEEP, Sweep
from mxsight.sim.scene import random_sample
from mxsight.storage.queries import find_alignments, find_collection_group

TRANSLATIONS = ("centring_x", "centring_y", "alignment_y", "alignment_z")


def _positions(goniometer):
    return {name: getattr(goniometer, name).position for name in TRANSLATIONS}


def _refracting_crystal_sample(seed: int = 7):
    """A crystal deep in a thick film, off the mid-plane: its image is shifted differently through
    either face of the film, which the circle model cannot describe."""
    sample = random_sample(seed, with_crystal=True)
    crystal = dataclasses.replace(sample.crystal, centre_normal_mm=0.025, half_size_mm=(*sample.crystal.half_size_mm[:2], 0.01))
    return dataclasses.replace(sample, film_thickness_mm=0.09, crystal=crystal, refractive_index=1.33)


def _centre(RE, beamline, model, **kwargs):
    # The circle is let past its residual limit here, to measure how far off it would centre.
    limits = ConfidenceLimits(max_residual_rms_um=500.0, max_move_sigma_um=100.0) if model == "circle" else ConfidenceLimits()
    sweeps = (COARSE_SWEEP, Sweep(frames=24, model=model, limits=limits))
    segmenter = TruthSegmenter(beamline.camera)
    return RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sweeps=sweeps, segmenter=segmenter, **kwargs))


def test_refraction_aware_fit_centres_the_crystal_better_than_the_circle(RE, tiled):
    errors, results = {}, {}
    for model in ("circle", "auto"):
        beamline = make_sim_beamline(sample=_refracting_crystal_sample(), zoom_level=6, write_directory=tiled.frames_directory)
        result = _centre(RE, beamline, model, sample_id=f"slab-{model}")
        errors[model] = beamline.target_errors_um("crystal")["from_beam_um"]
        results[model] = result.plan_result
    assert results["auto"].target == "crystal"
    assert results["auto"].solutions[-1].model == "slab"
    assert errors["auto"] < 3.0, errors
    assert errors["circle"] > 3 * errors["auto"], errors
    run = tiled.client[list(find_alignments(tiled.client, sample_id="slab-auto"))[0]]
    assert list(run["results"]["results_model"].read()) == ["circle", "slab"]
    assert list(run["results"]["results_target"].read())[-1] == "crystal"


def test_empty_field_searches_then_reports_sample_not_found_with_nothing_moved(RE, tiled):
    beamline = make_sim_beamline(sample=None, write_directory=tiled.frames_directory)
    before = _positions(beamline.goniometer)
    with pytest.raises(SampleNotFound, match="after searching"):
        RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="nothing", segmenter=TruthSegmenter(beamline.camera)))
    assert _positions(beamline.goniometer) == before
    run = tiled.client[list(find_alignments(tiled.client, sample_id="nothing"))[0]]
    assert run.metadata["stop"]["exit_status"] == "fail"
    frames = run["primary"]["oav_image"].shape[0]
    assert frames > 8, "the search took no frames"


def test_search_finds_a_sample_beyond_the_field_of_view(RE, tiled):
    sample = random_sample(3)
    sample = dataclasses.replace(sample, pin_tip_x_mm=sample.pin_tip_x_mm + 4.0)
    beamline = make_sim_beamline(sample=sample, write_directory=tiled.frames_directory)
    result = RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="far", segmenter=TruthSegmenter(beamline.camera)))
    assert result.plan_result.searched
    assert beamline.loop_centre_errors_um()["from_beam_um"] < 3.0


def test_coarse_sweep_if_needed_runs_only_when_the_loop_would_leave_the_view(RE, tiled):
    sample = random_sample(5, with_crystal=False)
    near = make_sim_beamline(sample=dataclasses.replace(sample, offset_u_mm=0.15, offset_w_mm=0.1), zoom_level=7, write_directory=tiled.frames_directory)
    result = RE(auto_centre(near.camera, near.goniometer, near.zoom, sample_id="in-view", sweeps=COARSE_IF_NEEDED_THEN_FINE, segmenter=TruthSegmenter(near.camera)))
    run = tiled.client[list(find_alignments(tiled.client, sample_id="in-view"))[0]]
    assert list(run["results"]["results_outcome"].read()) == ["skipped", "moved"]
    assert str(run["results"]["results_message"].read()[0]).startswith("not needed: the loop would span")
    assert result.plan_result.passes == [1] and result.plan_result.frames == 12
    assert set(np.asarray(run["primary"]["zoom_level"].read())) == {7}  # the zoom never went to the coarse level
    assert near.loop_centre_errors_um()["from_beam_um"] < 2.0
    # 0.5 mm off the axis, the loop swings out of the 1.1 mm view at zoom 7: the coarse sweep first
    far = make_sim_beamline(sample=dataclasses.replace(sample, offset_u_mm=0.5, offset_w_mm=0.1), zoom_level=7, write_directory=tiled.frames_directory)
    result = RE(auto_centre(far.camera, far.goniometer, far.zoom, sample_id="out-of-view", sweeps=COARSE_IF_NEEDED_THEN_FINE, segmenter=TruthSegmenter(far.camera)))
    run = tiled.client[list(find_alignments(tiled.client, sample_id="out-of-view"))[0]]
    outcomes = list(run["results"]["results_outcome"].read())
    looked = int(run["results"]["results_sweep_frames"].read()[0])
    assert outcomes == ["abandoned", "moved", "moved"] and 1 <= looked <= 4
    assert "would leave the view" in str(run["results"]["results_message"].read()[0])
    assert result.plan_result.passes == [0, 1] and result.plan_result.frames == looked + 8 + 12
    assert far.loop_centre_errors_um()["from_beam_um"] < 2.0


class LeavingLoopTruth(TruthSegmenter):
    """Exact masks, except that frames 5-12 it segments show the loop cut by the image's top edge: a
    loop that stays in view over the first 100 degrees and then leaves it."""

    def __init__(self, camera):
        super().__init__(camera)
        self.count = 0

    def _predict_usable(self, images):
        self.count += 1
        predictions = super()._predict_usable(images)
        if 5 <= self.count <= 12:
            loop = predictions[0].masks["loop"].copy()
            loop[0, loop.any(axis=0)] = True
            predictions = [dataclasses.replace(predictions[0], masks={**predictions[0].masks, "loop": loop})]
        return predictions


def test_a_loop_leaving_the_view_after_the_look_gets_the_coarse_sweep_after_all(RE, tiled):
    sample = dataclasses.replace(random_sample(5, with_crystal=False), offset_u_mm=0.15, offset_w_mm=0.1)
    beamline = make_sim_beamline(sample=sample, zoom_level=7, write_directory=tiled.frames_directory)
    result = RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="leaving", sweeps=COARSE_IF_NEEDED_THEN_FINE, segmenter=LeavingLoopTruth(beamline.camera)))
    run = tiled.client[list(find_alignments(tiled.client, sample_id="leaving"))[0]]
    assert list(run["results"]["results_outcome"].read()) == ["skipped", "SampleOffScreen", "moved", "moved"]
    assert result.plan_result.passes == [1, 0, 1] and result.plan_result.frames == 12 + 8 + 12
    assert run.metadata["stop"]["exit_status"] == "success"
    assert beamline.loop_centre_errors_um()["from_beam_um"] < 2.0


def test_sample_larger_than_the_view_is_off_screen_with_nothing_moved(RE, tiled):
    sample = dataclasses.replace(random_sample(4, with_crystal=False), loop_half_width_mm=0.7, loop_half_length_mm=0.8)
    beamline = make_sim_beamline(sample=sample, zoom_level=8, write_directory=tiled.frames_directory)
    before = _positions(beamline.goniometer)
    sweeps = (Sweep(frames=8),)
    with pytest.raises(SampleOffScreen, match="runs out of the image"):
        RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="huge", sweeps=sweeps, segmenter=TruthSegmenter(beamline.camera)))
    assert _positions(beamline.goniometer) == before


class CrustBlindSegmenter(TruthSegmenter):
    """Exact masks, except that the loop takes in the ice on its rim: a segmenter that cannot tell an
    ice crust from the wire."""

    name = "crust-blind"

    def _predict_usable(self, images):
        return [
            dataclasses.replace(prediction, masks={**prediction.masks, "loop": prediction.masks["loop"] | prediction.masks["ice"]})
            for prediction in super()._predict_usable(images)
        ]


def test_a_loop_seen_around_an_ice_crust_is_not_centred(RE, tiled):
    sample = dataclasses.replace(random_sample(8, with_crystal=False), ice=(), ice_ring_arc_deg=(20.0, 200.0))
    sweeps = (Sweep(frames=12),)
    beamline = make_sim_beamline(sample=sample, write_directory=tiled.frames_directory)
    before = _positions(beamline.goniometer)
    with pytest.raises(FitNotConfident, match="ice crust"):
        RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="crust", sweeps=sweeps, segmenter=CrustBlindSegmenter(beamline.camera)))
    assert _positions(beamline.goniometer) == before
    # The exact masks of the same sample put the loop's edge inside the crust: it is centred.
    RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="crust", sweeps=sweeps, segmenter=TruthSegmenter(beamline.camera)))
    assert beamline.loop_centre_errors_um()["from_beam_um"] < 3.0


@pytest.mark.parametrize(
    "motor,limits,words",
    [("alignment_y", (-0.01, 0.01), "too far along the spindle"), ("centring_x", (-0.01, 0.01), "off the rotation axis")],
)
def test_pin_not_centrable_moves_nothing(RE, tiled, motor, limits, words):
    sample = dataclasses.replace(random_sample(5, with_crystal=False), offset_u_mm=0.2, offset_w_mm=0.1)
    beamline = make_sim_beamline(sample=sample, write_directory=tiled.frames_directory)
    getattr(beamline.goniometer, motor)._limits = limits
    before = _positions(beamline.goniometer)
    with pytest.raises(PinNotCentrable, match=words):
        RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id=f"pin-{motor}", segmenter=TruthSegmenter(beamline.camera)))
    assert _positions(beamline.goniometer) == before


def test_continuous_rotation_takes_omega_at_exposure(RE, tiled):
    beamline = make_sim_beamline(seed=6, write_directory=tiled.frames_directory, realistic_motion=True)
    beamline.goniometer.omega.velocity = 40.0
    beamline.camera.omega_source = beamline.goniometer.omega
    exposures = []
    acquire = beamline.camera.acquire_frame

    def acquire_and_note():
        exposures.append(beamline.camera.positions().omega_deg)
        return acquire()

    beamline.camera.acquire_frame = acquire_and_note
    sweeps = (Sweep(frames=8, continuous=True, model="circle", target="loop", limits=ConfidenceLimits(min_frames=8)),)
    result = RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="continuous", sweeps=sweeps, segmenter=TruthSegmenter(beamline.camera)))
    assert beamline.loop_centre_errors_um()["from_beam_um"] < 3.0
    run = tiled.client[result.run_start_uids[0]]
    recorded = np.asarray(run["predictions"]["predictions_omega_deg"].read())
    assert len(recorded) == len(exposures) >= 8
    assert np.allclose(recorded, exposures, atol=1e-6)
    steps = np.diff(recorded)
    assert steps.min() > 0 and steps.std() > 0, "omega was not read during the rotation"


def test_click_centre_from_true_clicks_centres_and_records_them(RE, tiled):
    beamline = make_sim_beamline(seed=8, write_directory=tiled.frames_directory)
    before = beamline.loop_centre_errors_um()["from_beam_um"]

    def operator(frame, omega_deg):
        row, col = beamline.camera.last_render.loop_centre_px
        return row + 0.7, col - 0.4

    result = RE(click_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="clicked", omegas=(0, 90, 180, 270), ask=operator))
    assert before > 50
    assert beamline.loop_centre_errors_um()["from_beam_um"] < 3.0
    run = tiled.client[result.run_start_uids[0]]
    clicks = run["clicks"]
    assert list(np.asarray(clicks["clicks_omega_deg"].read())) == [0, 90, 180, 270]
    assert list(clicks["clicks_source"].read()) == ["operator"] * 4
    assert np.asarray(clicks["clicks_frame_number"].read()).tolist() == list(range(4))


def test_raster_extents_contain_the_loop_at_face_and_edge(RE, tiled):
    sample = random_sample(9, with_crystal=False)
    beamline = make_sim_beamline(sample=sample, write_directory=tiled.frames_directory)
    RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="raster", segmenter=TruthSegmenter(beamline.camera)))
    result = RE(raster_extents(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="raster", step_um=10.0, segmenter=TruthSegmenter(beamline.camera)))
    extents = result.plan_result
    true_face = (-sample.loop_plane_angle_deg) % 180
    assert abs((extents.area.face_on_deg - true_face + 90) % 180 - 90) < 5
    loop_um = 2000 * np.array([sample.loop_half_length_mm, sample.loop_half_width_mm])
    assert extents.face.extent_along_um >= loop_um[0] and extents.face.extent_across_um >= loop_um[1]
    assert extents.edge.extent_across_um < extents.face.extent_across_um
    assert extents.face.extent_along_um % 10 == pytest.approx(0, abs=1e-6)
    run = tiled.client[result.run_start_uids[0]]
    assert run["results"]["results_face_n_cells"].read()[0] == extents.face.n_cells


def test_multi_orientation_collection_records_every_orientation(RE, tiled):
    beamline = make_sim_beamline(sample=random_sample(10, with_crystal=True), write_directory=tiled.frames_directory)
    detector = SimDiffractionDetector(name="detector", camera=beamline.camera, beam_size_um=10.0)
    orientations = [Orientation(0.0, 0.0), Orientation(40.0, 0.0), Orientation(80.0, 120.0)]
    result = RE(
        multi_orientation_collection(
            beamline.camera, beamline.goniometer, beamline.zoom, detector, sample_id="multi",
            orientations=orientations, images=4, segmenter=TruthSegmenter(beamline.camera),
        )
    )
    outcome = result.plan_result
    assert [r.failure for r in outcome.results] == ["", "", ""]
    assert min(r.mean_signal for r in outcome.results) > 0.9, [r.mean_signal for r in outcome.results]
    runs = find_collection_group(tiled.client, outcome.group)
    assert len(runs) == 9
    collections = find_collection_group(tiled.client, outcome.group, plan_name="collect")
    kappas = sorted(run.metadata["start"]["kappa_deg"] for run in collections.values())
    assert kappas == [0.0, 40.0, 80.0]
    for run in collections.values():
        assert run.metadata["stop"]["exit_status"] == "success"
        assert len(run["primary"]["detector_signal"].read()) == 4
        assert np.asarray(run["primary"]["gonio_kappa"].read())[0] == run.metadata["start"]["kappa_deg"]


def test_vertical_spindle_beamline_is_centred(RE, tiled):
    beamline = make_sim_beamline(seed=12, spindle="vertical", write_directory=tiled.frames_directory)
    assert beamline.camera.frame_shape == (1360, 1024)
    before = beamline.loop_centre_errors_um()["from_beam_um"]
    geometry = CentringGeometry(spindle="vertical")
    result = RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="vertical", geometry=geometry, segmenter=TruthSegmenter(beamline.camera)))
    target = result.plan_result.target
    assert before > 50
    assert beamline.target_errors_um(target)["from_beam_um"] < 2.0


def test_continuous_sweeps_take_a_turn_at_the_cameras_pace_and_look_before_segmenting(RE, tiled):
    """omega turns at 180 deg/s past the fine sweep's 12 angles while a 30 fps camera streams; the first
    frames show the loop staying in view, so the coarse sweep is skipped and the turn is centred."""
    beamline = make_sim_beamline(seed=12, zoom_level=5, write_directory=tiled.frames_directory, realistic_motion=True)
    sweeps = tuple(dataclasses.replace(sweep, continuous=True) for sweep in COARSE_IF_NEEDED_THEN_FINE)
    result = RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="continuous-look", sweeps=sweeps, segmenter=TruthSegmenter(beamline.camera)))
    outcome = result.plan_result
    # A camera that falls behind the turn (a busy 2-core machine) skips the angle it passed, by design.
    assert outcome.passes == [1] and 10 <= outcome.frames <= 12
    assert beamline.target_errors_um(outcome.target)["from_beam_um"] < 10.0
    run = tiled.client[result.run_start_uids[0]]
    exposed = np.asarray(run["primary"]["oav_exposure_omega_deg"].read())
    angle_taken = np.floor(exposed / 30.0)  # which of the 12 angles (every 30 deg) each frame was exposed past
    assert len(exposed) == outcome.frames and np.all((angle_taken >= 0) & (angle_taken < 12))
    assert np.all(np.diff(angle_taken) >= 1)  # one frame per angle at most, in turn order
    assert list(run["results"]["results_outcome"].read()) == ["skipped", "moved"]
