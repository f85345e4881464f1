"""The retraining loop: recorded runs reviewed by an operator -> ``mxsight dataset export`` -> fine-tune a
tiny model with ``mxsight train --resume`` -> ``mxsight evaluate --compare`` -> ``mxsight model promote``;
and the marking of frames the network was unsure of."""

import contextlib
import json
from dataclasses import dataclass

import numpy as np
import pytest
from bluesky import RunEngine
from tiled.client import from_uri
from truth import TruthSegmenter

from mxsight.cli import main
from mxsight.devices.sim import make_sim_beamline
from mxsight.plans.auto_centre import auto_centre
from mxsight.plans.click_centre import click_centre
from mxsight.plans.sweeps import Sweep
from mxsight.sim.scene import random_sample
from mxsight.storage.queries import find_alignments
from mxsight.storage.review import review_run
from mxsight.storage.tiled import PROCESS_API_KEY, EmbeddedTiled, spooling_writer
from mxsight.training.dataset_format import LabelledDataset
from mxsight.training.promote import PromotionRefused, promote
from mxsight.vision.network import NetworkConfig, build_model
from mxsight.vision.model_files import MODELS_DIR_VARIABLE
from mxsight.vision.network_maps import uncertain_fraction
from mxsight.vision.network_segmenter import NetworkSegmenter
from mxsight.vision.prediction import UNSURE_FRACTION, Prediction

FRAMES = 8
CLICK_OMEGAS = (0.0, 90.0, 180.0)


@dataclass
class Recorded:
    """Where the runs were recorded: a Tiled client that may write, its address, and the environment
    under which ``mxsight`` commands find the keys (``TILED_API_KEY``, or this host's keys file)."""

    kind: str
    client: object
    address: str
    environment: dict[str, str]

    def use_keys(self, monkeypatch) -> None:
        monkeypatch.delenv("TILED_API_KEY", raising=False)
        for name, value in self.environment.items():
            monkeypatch.setenv(name, value)


@contextlib.contextmanager
def _store(kind: str, folder):
    """An embedded Tiled (the default) or ``mxsight tiled serve`` on PostgreSQL; yields (Recorded,
    frames folder, RunEngine callback)."""
    if kind == "embedded":
        with EmbeddedTiled.start(folder / "tiled") as tiled:
            yield Recorded(kind, tiled.client, tiled.address, {"TILED_API_KEY": PROCESS_API_KEY}), tiled.frames_directory, tiled.writer()
        return
    from postgres_cluster import postgres_bin
    from tiled_process import mxsight_tiled_server

    if postgres_bin() is None:
        pytest.skip("no PostgreSQL binaries (initdb): install the postgresql package")
    with mxsight_tiled_server(folder) as served:
        client = from_uri(served.address, api_key=served.keys.write)
        recorded = Recorded(kind, client, served.address, {"MXSIGHT_TILED_KEYS": str(served.keys_file)})  # review: write key, export: read key
        yield recorded, served.frames_directory, spooling_writer(client, folder / "spool", served.address)


@pytest.fixture(scope="module", params=["embedded", "postgresql"])
def recorded(request, tmp_path_factory):
    """Two auto_centre runs (one to be accepted, one flagged wrong) and a click_centre run, recorded in
    the embedded default and in a PostgreSQL-backed server."""
    folder = tmp_path_factory.mktemp(f"retraining-{request.param}")
    with _store(request.param, folder) as (tiled, frames, writer):
        RE = RunEngine({}, call_returns_result=True)
        RE.subscribe(writer)
        for sample_id in ("good", "bad"):
            beamline = make_sim_beamline(sample=random_sample(3), zoom_level=5, write_directory=frames)
            RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id=sample_id, sweeps=(Sweep(frames=FRAMES),),
                           segmenter=TruthSegmenter(beamline.camera), search=None))
        beamline = make_sim_beamline(sample=random_sample(4), zoom_level=5, write_directory=frames)
        clicks = {}
        for omega in CLICK_OMEGAS:
            beamline.goniometer.omega.set(omega)
            beamline.camera.acquire_frame()
            clicks[omega] = beamline.camera.last_render.loop_centre_px
        RE(click_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="clicked", clicks=clicks))
        if hasattr(writer, "flush"):
            assert writer.flush(timeout_s=60)
        yield tiled, folder, clicks


def _run(tiled, sample_id, plan_name="auto_centre"):
    (run,) = find_alignments(tiled.client, sample_id=sample_id, plan_name=plan_name).values()
    return run


def test_review_is_recorded_and_checked(recorded, monkeypatch):
    tiled, _, _ = recorded
    tiled.use_keys(monkeypatch)
    run = _run(tiled, "good")
    with pytest.raises(ValueError, match="verdict must be one of accepted, wrong"):
        review_run(run, "maybe")
    with pytest.raises(ValueError, match=r"frames \[99\] are not in this run"):
        review_run(run, "wrong", frames=[99])
    with pytest.raises(ValueError, match="no predictions stream"):
        review_run(_run(tiled, "clicked", "click_centre"), "accepted")
    assert main(["review", run.metadata["start"]["uid"][:8], "accepted", "--tiled", tiled.address, "--note", "loop and crystal right"]) == 0
    with pytest.raises(KeyError, match="0 runs have a uid starting with 'nothing'"):
        main(["review", "nothing", "accepted", "--tiled", tiled.address])
    assert main(["review", _run(tiled, "bad").metadata["start"]["uid"], "wrong", "--tiled", tiled.address, "--frames", "2,5"]) == 0
    assert _run(tiled, "good").metadata["review"]["verdict"] == "accepted"
    assert _run(tiled, "bad").metadata["review"]["frames"] == [2, 5]


def test_export_fine_tune_evaluate_promote(recorded, tmp_path, monkeypatch):
    tiled, _, clicks = recorded
    test_review_is_recorded_and_checked(recorded, monkeypatch)
    exported = tmp_path / "exported"
    assert main(["dataset", "export", "--tiled", tiled.address, "--out", str(exported)]) == 0

    labelled, to_label = LabelledDataset(exported / "labelled"), LabelledDataset(exported / "to_label")
    reasons = [example.metadata["reason"] for example in labelled]
    assert reasons.count("accepted prediction") == FRAMES and reasons.count("operator click") == len(CLICK_OMEGAS)
    assert [example.metadata["reason"] for example in to_label] == ["flagged wrong", "flagged wrong"]
    good_uid = _run(tiled, "good").metadata["start"]["uid"]
    accepted = [e for e in labelled if e.metadata["reason"] == "accepted prediction"]
    assert {e.metadata["run_uid"] for e in accepted} == {good_uid}
    assert [e.metadata["frame_index"] for e in accepted] == list(range(FRAMES))
    stored_masks = np.asarray(_run(tiled, "good")["predictions"]["predictions_masks"][3])
    assert np.array_equal(accepted[3].masks["loop"], (stored_masks & 1 << 2) != 0) and accepted[3].masks["loop"].sum() > 100
    clicked = [e for e in labelled if e.metadata["reason"] == "operator click"]
    assert [e.metadata["labelled"] for e in clicked] == [["click"]] * 3
    assert [e.metadata["omega_deg"] for e in clicked] == list(CLICK_OMEGAS)
    np.testing.assert_allclose([e.click_px for e in clicked], [clicks[o] for o in CLICK_OMEGAS])
    assert all(e.metadata["labelled"] == [] and e.metadata["frame_index"] in (2, 5) for e in to_label)

    # Each frame to label is also a PNG and a labelme draft of the network's masks; an operator's
    # corrected draft imports back as a labelled example that keeps the frame's provenance.
    drafts = sorted((exported / "to_label" / "labelme").glob("*.json"))
    assert len(drafts) == 2 and all(d.with_suffix(".png").exists() for d in drafts)
    draft = json.loads(drafts[0].read_text())
    assert draft["imageData"] is None and draft["mxsight"]["reason"] == "flagged wrong"
    assert {shape["label"] for shape in draft["shapes"]} >= {"loop"}
    draft["shapes"] = [shape for shape in draft["shapes"] if shape["label"] != "ice"] + [
        {"label": "crystal", "points": [[10, 10], [30, 10], [30, 30]], "shape_type": "polygon", "group_id": None, "flags": {}}
    ]
    drafts[0].write_text(json.dumps(draft))
    assert main(["dataset", "import-labelme", str(exported / "to_label" / "labelme"), "--out", str(tmp_path / "corrected")]) == 0
    corrected = LabelledDataset(tmp_path / "corrected")
    assert len(corrected) == 2
    first = next(e for e in corrected if e.metadata["source"] == drafts[0].name)
    assert first.metadata["run_uid"] == draft["mxsight"]["run_uid"] and first.metadata["frame_index"] == draft["mxsight"]["frame_index"]
    assert first.metadata["draft_reason"] == "flagged wrong" and "labelled" not in first.metadata
    assert first.masks["crystal"].sum() > 150 and not first.masks["ice"].any()
    if tiled.kind != "embedded":
        return  # what follows works on the exported files only, wherever the runs were recorded

    old = tmp_path / "old.keras"
    build_model(NetworkConfig(widths=(8, 16), groups=4, full_resolution_width=4)).save(old)
    run_dir = tmp_path / "finetune"
    assert main(["train", "--resume", str(old), "--data", str(exported / "labelled"), "--validation", str(exported / "labelled"),
                 "--out", str(run_dir), "--epochs", "1", "--steps-per-epoch", "3", "--batch-size", "2", "--image-shape", "64", "80"]) == 0
    new = run_dir / "model.keras"
    history = (run_dir / "history.csv").read_text().splitlines()
    assert len(history) == 2 and np.isfinite(float(history[1].split(",")[history[0].split(",").index("loss")]))
    old_weights = NetworkSegmenter.load(old).model.get_weights()
    new_weights = NetworkSegmenter.load(new).model.get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(old_weights, new_weights))

    against_old = tmp_path / "against-old"
    assert main(["evaluate", "--model", str(new), "--compare", str(old), "--data", str(exported / "labelled"), "--limit", "2", "--out", str(against_old)]) == 0
    evaluation = tmp_path / "evaluation"
    assert main(["evaluate", "--model", str(new), "--compare", "default", "--data", str(exported / "labelled"), "--limit", "4", "--out", str(evaluation)]) == 0
    report = json.loads(evaluation.with_suffix(".json").read_text())
    assert report["evaluated"]["model"]["model"] == str(new.resolve()) and report["evaluated"]["compare"]["model"] == "default"
    assert report["evaluated"]["images"] == 4 and {"model", "compare", "classical"} <= set(report)

    site = tmp_path / "site-models"
    with pytest.raises(PromotionRefused, match="evaluate this model first"):
        promote(old, evaluation.with_suffix(".json"), site)
    with pytest.raises(PromotionRefused, match="does not compare with the current default"):
        promote(new, against_old.with_suffix(".json"), site, force=True)
    with pytest.raises(PromotionRefused, match=r"BIoU_1 is .* a drop of .* \(at most 0.02 allowed for any notion\)"):
        promote(new, evaluation.with_suffix(".json"), site)
    assert main(["model", "thresholds", str(new), "--data", str(exported / "labelled"), "--limit", "2", "--write"]) == 0
    own_thresholds = json.loads(new.with_suffix(".json").read_text())["thresholds"]
    assert main(["model", "promote", str(new), "--evaluation", str(evaluation.with_suffix(".json")), "--models-dir", str(site), "--version", "test.1", "--force"]) == 0
    card = json.loads((site / "default.json").read_text())
    assert card["thresholds"] == own_thresholds  # the promoted model's own calibration, not the replaced one's
    assert card["version"] == "test.1" and card["promoted"]["from"] == str(new.resolve())
    assert set(card["promoted"]["new_biou_1"]) == set(card["promoted"]["previous_biou_1"]) and card["promoted"]["evaluation_images"] == 4
    assert (site / "default.keras").read_bytes() == new.read_bytes()
    monkeypatch.setenv(MODELS_DIR_VARIABLE, str(site))
    assert NetworkSegmenter._read_shipped("default.keras").version == "test.1"


def test_unsure_frames_are_marked():
    maps = np.zeros((20, 20, 10), np.float32)
    maps[5:15, 5:15, 2] = 0.95  # a confident loop
    assert uncertain_fraction(maps) == 0.0
    maps[5:15, 5:10, 2] = 0.5  # half of it undecided
    assert uncertain_fraction(maps) == pytest.approx(0.5)
    assert uncertain_fraction(np.zeros((8, 8, 10), np.float32)) == 0.0
    shape = (4, 4)
    sure = Prediction.empty(shape)
    sure.extras["uncertain_fraction"] = UNSURE_FRACTION / 2
    unsure = Prediction.empty(shape)
    unsure.extras["uncertain_fraction"] = 0.3
    assert not sure.unsure and unsure.unsure


def _evaluation(model, version, new_views, old_views):
    """A hand-made ``mxsight evaluate --compare default`` report: equal scores, given empty-field views."""
    notions = {notion: {"biou_1": 0.9} for notion in ("crystal", "loop_inside", "loop", "stem", "pin", "capillary", "ice", "foreground")}

    def fields(views):
        return {"notions": {notion: {"views_with_notion": views if notion in ("foreground", "loop") else 0.0} for notion in notions}}

    return {
        "evaluated": {"model": {"model": str(model.resolve())}, "compare": {"model": "default", "version": version}, "data": "d", "images": 3},
        "model": {"notions": notions, "empty_fields": fields(new_views)},
        "compare": {"notions": notions, "empty_fields": fields(old_views)},
    }


def test_promotion_refuses_a_model_that_sees_samples_on_empty_fields(tmp_path):
    model = tmp_path / "new.keras"
    build_model(NetworkConfig(widths=(8, 16), groups=4, full_resolution_width=4)).save(model)
    site = tmp_path / "site"
    version = NetworkSegmenter._read_shipped("default.keras").version
    evaluation = tmp_path / "evaluation.json"
    evaluation.write_text(json.dumps(_evaluation(model, version, new_views=0.25, old_views=0.0)))
    with pytest.raises(PromotionRefused, match="on 25% of the empty fields, the default on 0%"):
        promote(model, evaluation, site)
    assert not (site / "default.keras").exists()
    card = json.loads(promote(model, evaluation, site, version="forced.1", force=True).read_text())
    assert card["promoted"]["forced"] is True and card["promoted"]["new_empty_field_views_with_sample"] == 0.25
    evaluation.write_text(json.dumps(_evaluation(model, version, new_views=0.0, old_views=0.25)))
    with pytest.raises(PromotionRefused, match="no evaluation on the held-out real frames"):
        promote(model, evaluation, tmp_path / "site2", version="clean.1")
    real = tmp_path / "real.json"
    found = {"model": 4, "compare": 3, "classical": 3, "model, else classical": 5}
    real.write_text(json.dumps({
        "split": "evaluation",
        "evaluated": {"model": {"model": str(model.resolve()), "version": "new"}, "compare": {"model": "default", "version": version}},
        "summary": {name: {"loop_found": {"found": n, "frames": 5}, "loop_region": {"mean_iou": 0.5}, "foreground": {"mean_iou": 0.9}} for name, n in found.items()},
    }))
    card = json.loads(promote(model, evaluation, tmp_path / "site2", version="clean.1", real_evaluation=real).read_text())
    assert card["promoted"]["forced"] is False and card["promoted"]["previous_empty_field_views_with_sample"] == 0.25
    assert card["default_segmenter"] == "checked" and card["promoted"]["real_frames"]["new"]["loop_found"]["found"] == 4


def test_promotion_allows_a_small_simulated_drop_on_each_notion_and_no_more(tmp_path):
    """A model chosen for real frames may lose up to 0.02 BIoU_1 of the simulator's on any notion."""
    model = tmp_path / "new.keras"
    build_model(NetworkConfig(widths=(8, 16), groups=4, full_resolution_width=4)).save(model)
    version = NetworkSegmenter._read_shipped("default.keras").version
    real = tmp_path / "real.json"
    real.write_text(json.dumps({
        "split": "evaluation",
        "evaluated": {"model": {"model": str(model.resolve()), "version": "new"}, "compare": {"model": "default", "version": version}},
        "summary": {name: {"loop_found": {"found": 5, "frames": 5}, "loop_region": {"mean_iou": 0.7}, "foreground": {"mean_iou": 0.9}}
                    for name in ("model", "compare", "classical")},
    }))
    evaluation = tmp_path / "evaluation.json"
    for notion, drop, accepted in (("loop", 0.015, True), ("stem", 0.025, False), ("capillary", 0.2, True)):
        report = _evaluation(model, version, new_views=0.0, old_views=0.0)
        report["model"]["notions"] = {**report["model"]["notions"], notion: {"biou_1": 0.9 - drop}}
        evaluation.write_text(json.dumps(report))
        site = tmp_path / f"site-{notion}"
        if accepted:
            card = json.loads(promote(model, evaluation, site, version="v.1", real_evaluation=real).read_text())
            assert card["promoted"]["forced"] is False
        else:
            with pytest.raises(PromotionRefused, match="stem BIoU_1 is 0.875 against the default's 0.900, a drop of 0.025"):
                promote(model, evaluation, site, real_evaluation=real)
            assert not (site / "default.keras").exists()


def test_tracked_frames_are_recorded_and_exported_as_their_windows(tmp_path, monkeypatch):
    """A frame labelled only in a window (as the network labels the frames it tracks) is recorded
    with that window and exported as that part of the frame; each sweep's first frame is whole."""
    from truth import WindowedTruthSegmenter

    tiled = EmbeddedTiled.start(tmp_path / "tiled")
    monkeypatch.setenv("TILED_API_KEY", PROCESS_API_KEY)
    try:
        RE = RunEngine({}, call_returns_result=True)
        RE.subscribe(tiled.writer())
        beamline = make_sim_beamline(sample=random_sample(3), zoom_level=5, write_directory=tiled.frames_directory)
        sweeps = (Sweep(frames=6, zoom_level="lowest", model="circle", target="loop", required=False), Sweep(frames=FRAMES))
        RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="tracked", sweeps=sweeps,
                       segmenter=WindowedTruthSegmenter(beamline.camera), search=None))
        run = _run(tiled, "tracked")
        predictions = run["predictions"]
        regions = np.stack([np.asarray(predictions[f"predictions_labelled_{part}_px"].read()) for part in ("top", "left", "rows", "cols")], axis=1)
        whole = (regions[:, 2] == 1024) & (regions[:, 3] == 1360)
        assert whole.tolist() == [True] + [False] * 5 + [True] + [False] * (FRAMES - 1)
        assert np.isnan(np.asarray(predictions["predictions_tip_row_px"].read())[~whole]).all()
        review_run(run, "accepted")
        exported = tmp_path / "exported"
        assert main(["dataset", "export", "--tiled", tiled.address, "--out", str(exported)]) == 0
        examples = list(LabelledDataset(exported / "labelled"))
        assert len(examples) == 6 + FRAMES
        for example in examples:
            index = example.metadata["frame_index"]
            top, left, rows, cols = (int(v) for v in regions[index])
            assert example.image.shape[:2] == (rows, cols) and example.masks["loop"].shape == (rows, cols)
            assert ("crop_px" in example.metadata) == (not whole[index])
            stored = np.asarray(predictions["predictions_masks"][index])[top : top + rows, left : left + cols]
            assert np.array_equal(example.masks["loop"], (stored & 1 << 2) != 0) and example.masks["loop"].sum() > 100
            frame = np.asarray(run["primary"]["oav_image"][index])
            assert np.array_equal(example.image, frame[top : top + rows, left : left + cols])
    finally:
        tiled.close()
