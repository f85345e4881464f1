"""Queries over a Tiled server holding a few dozen recorded alignments: by sample, puck, date range,
outcome, crystal found and model version; reading a run as arrays; ``mxsight runs``; and the same runs
read by plain Tiled with no mxsight code. Each on the embedded default and on ``mxsight tiled serve``
with its catalog on PostgreSQL, read with its read key."""

import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from bluesky import RunEngine
from tiled.client import from_uri
from tiled.queries import Key
from truth import TruthSegmenter

from mxsight.devices.sim import make_sim_beamline
from mxsight.plans.auto_centre import auto_centre
from mxsight.plans.errors import AlignmentError
from mxsight.plans.sweeps import Sweep
from mxsight.sim.scene import random_sample
from mxsight.storage.queries import alignments_table, find_alignments, read_alignment
from mxsight.storage.tiled import PROCESS_API_KEY, EmbeddedTiled, spooling_writer

SHORT_SWEEP = (Sweep(frames=12),)
PUCKS = ("P1", "P2", "P3")


class VersionedTruth(TruthSegmenter):
    """Exact masks under a chosen model version, to stand for two network versions."""

    def __init__(self, camera, version: str):
        super().__init__(camera)
        self.version = version


@dataclass
class Store:
    """Where the runs are recorded: ``client`` writes, ``address`` and ``read_key`` are what a reader uses."""

    client: object
    address: str
    read_key: str
    frames_directory: Path
    writer: object


@contextlib.contextmanager
def _store(kind: str, folder: Path):
    """The embedded default, or ``mxsight tiled serve`` on PostgreSQL (2 workers) written with its write key."""
    if kind == "embedded":
        with EmbeddedTiled.start(folder) as tiled:
            yield Store(tiled.client, tiled.address, PROCESS_API_KEY, tiled.frames_directory, tiled.writer())
        return
    from postgres_cluster import postgres_bin
    from tiled_process import mxsight_tiled_server

    if postgres_bin() is None:
        pytest.skip("no PostgreSQL binaries (initdb): install the postgresql package")
    with mxsight_tiled_server(folder) as served:
        client = from_uri(served.address, api_key=served.keys.write)
        yield Store(client, served.address, served.keys.read, served.frames_directory, spooling_writer(client, folder / "spool", served.address))


@pytest.fixture(scope="module", params=["embedded", "postgresql"])
def catalog(request, tmp_path_factory):
    """24 alignments: 3 pucks x 8 pins; every fourth pin is empty (SampleNotFound), pins 1 and 5 hold a
    crystal; the first 12 under model version "v1", the rest "v2", with a time boundary between them;
    recorded in the embedded default and in a PostgreSQL-backed server."""
    with _store(request.param, tmp_path_factory.mktemp(f"queries-{request.param}")) as tiled:
        RE = RunEngine({}, call_returns_result=True)
        RE.subscribe(tiled.writer)
        expected = {"success": [], "SampleNotFound": [], "crystal": [], "boundary": None}
        for index in range(24):
            puck, pin = PUCKS[index // 8], index % 8
            if index == 12:
                time.sleep(0.05)
                expected["boundary"] = time.time()
                time.sleep(0.05)
            sample = None if pin % 4 == 3 else random_sample(100 + index, with_crystal=pin in (1, 5))
            beamline = make_sim_beamline(sample=sample, zoom_level=6, write_directory=tiled.frames_directory)
            segmenter = VersionedTruth(beamline.camera, "v1" if index < 12 else "v2")
            sample_id = f"{puck}-{pin}"
            try:
                outcome = RE(
                    auto_centre(
                        beamline.camera, beamline.goniometer, beamline.zoom, sample_id=sample_id, sweeps=SHORT_SWEEP,
                        segmenter=segmenter, search=None, md={"puck": puck},
                    )
                ).plan_result
                expected["success"].append(sample_id)
                if outcome.target == "crystal":
                    expected["crystal"].append(sample_id)
            except AlignmentError as error:
                expected[type(error).__name__].append(sample_id)
        yield tiled, expected


def _samples(runs) -> list[str]:
    return sorted(run.metadata["start"]["sample_id"] for run in runs.values())


def test_recorded_outcomes_are_as_constructed(catalog):
    _, expected = catalog
    assert len(expected["success"]) == 18 and len(expected["SampleNotFound"]) == 6
    assert len(expected["crystal"]) >= 4


def test_query_by_sample_puck_outcome_crystal_and_version(catalog):
    tiled, expected = catalog
    client = tiled.client
    assert len(find_alignments(client)) == 24
    assert _samples(find_alignments(client, sample_id="P2-5")) == ["P2-5"]
    assert _samples(find_alignments(client, puck="P3")) == [f"P3-{pin}" for pin in range(8)]
    assert _samples(find_alignments(client, outcome="success")) == sorted(expected["success"])
    assert _samples(find_alignments(client, outcome="SampleNotFound")) == sorted(expected["SampleNotFound"])
    assert _samples(find_alignments(client, crystal_found=True)) == sorted(expected["crystal"])
    assert len(find_alignments(client, crystal_found=False)) == 24 - len(expected["crystal"])
    assert _samples(find_alignments(client, model_version="v2")) == sorted(f"{p}-{pin}" for p in PUCKS[1:] for pin in range(8))[4:]
    assert _samples(find_alignments(client, puck="P1", outcome="success", crystal_found=True)) == sorted(s for s in expected["crystal"] if s.startswith("P1"))


def test_query_by_date_range(catalog):
    tiled, expected = catalog
    boundary = expected["boundary"]
    assert len(find_alignments(tiled.client, until=boundary)) == 12
    assert len(find_alignments(tiled.client, since=boundary)) == 12
    assert len(find_alignments(tiled.client, since="2020-01-01", until="2020-12-31")) == 0


def test_summary_in_metadata(catalog):
    tiled, _ = catalog
    (run,) = find_alignments(tiled.client, sample_id="P1-3").values()
    summary = run.metadata["summary"]
    assert summary["outcome"] == "SampleNotFound" and summary["reason"].startswith("SampleNotFound:")
    assert summary["frames"] == 12 and summary["passes_moved"] == 0 and summary["crystal_found"] is False
    (run,) = find_alignments(tiled.client, sample_id="P1-1").values()
    summary = run.metadata["summary"]
    assert summary["outcome"] == "success" and summary["passes_moved"] == 1 and summary["frames"] == 12
    assert summary["target"] in ("crystal", "loop") and summary["model"] in ("circle", "slab")
    assert 0 <= summary["residual_rms_px"] < 3.0


def test_read_alignment_as_arrays(catalog):
    tiled, _ = catalog
    (run,) = find_alignments(tiled.client, sample_id="P2-0").values()
    record = read_alignment(run)
    assert record.frames.shape == (12, 1024, 1360, 3) and record.frames.dtype == np.uint8
    assert record.masks["loop"].shape == (12, 1024, 1360) and record.masks["loop"].dtype == bool
    assert record.masks["loop"].sum(axis=(1, 2)).min() > 100
    np.testing.assert_allclose(record.omega_deg, np.arange(12) * 30.0)
    assert record.features["present"].all()
    assert list(record.results["outcome"]) == ["moved"] and np.isfinite(record.results["c_px"][0])
    assert record.summary["outcome"] == "success" and record.start["puck"] == "P2"


def test_alignments_table_lists_newest_first(catalog):
    tiled, _ = catalog
    lines = alignments_table(find_alignments(tiled.client, puck="P3"), limit=5).splitlines()
    assert lines[0].split()[:6] == ["time", "sample", "puck", "plan", "outcome", "target"]
    assert len(lines) == 2 + 5
    assert [line.split()[2] for line in lines[2:]] == ["P3-7", "P3-6", "P3-5", "P3-4", "P3-3"]
    assert "SampleNotFound" in lines[2] and "success" in lines[3]
    assert alignments_table(find_alignments(tiled.client, puck="P9")) == "no alignments found"


def test_alignments_table_lists_by_start_time_not_by_when_written(catalog):
    """A run written after a later one (replayed once Tiled was back) is listed at the time it ran."""
    import bluesky.plans as bp
    from ophyd.sim import det

    tiled, _ = catalog
    runs = {}
    for sample_id in ("earlier", "later"):
        documents = runs[sample_id] = []
        RE = RunEngine({})
        RE.subscribe(lambda name, doc, documents=documents: documents.append((name, doc)))
        RE(bp.count([det], md={"puck": "P5", "sample_id": sample_id}))
        time.sleep(0.05)
    for name, doc in runs["later"] + runs["earlier"]:  # the earlier run reaches Tiled last
        tiled.writer(name, doc)
    assert tiled.writer.flush(60)
    lines = alignments_table(find_alignments(tiled.client, puck="P5", plan_name=None)).splitlines()
    assert [line.split()[2] for line in lines[2:]] == ["later", "earlier"]


def test_plain_tiled_client_reads_runs_without_mxsight(catalog):
    tiled, expected = catalog
    script = (
        "import sys; from tiled.client import from_uri; from tiled.queries import Key; "
        f"c = from_uri('{tiled.address}'); "  # the key from TILED_API_KEY, as plain Tiled clients read it
        "runs = c.search(Key('start.puck') == 'P1').search(Key('summary.crystal_found') == True); "
        "run = runs.values().first(); "
        "print(len(runs), run['primary']['oav_image'].shape, sorted(run), 'mxsight' in sys.modules)"
    )
    environment = {**os.environ, "TILED_API_KEY": tiled.read_key}
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=environment)
    assert completed.returncode == 0, completed.stderr[-2000:]
    output = completed.stdout.split()
    crystals_in_p1 = sum(s.startswith("P1") for s in expected["crystal"])
    assert output[0] == str(crystals_in_p1)
    assert output[1:5] == ["(12,", "1024,", "1360,", "3)"]
    assert {"['predictions',", "'primary',", "'results']"} <= set(output)
    assert output[-1] == "False"
    client = from_uri(tiled.address, api_key=tiled.read_key)
    assert len(client.search(Key("summary.outcome") == "SampleNotFound")) == 6


def test_runs_command(catalog, capsys, monkeypatch):
    from mxsight.cli import main

    tiled, _ = catalog
    monkeypatch.setenv("TILED_API_KEY", tiled.read_key)
    assert main(["runs", "--tiled", tiled.address, "--puck", "P2", "--outcome", "success", "--limit", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and all("success" in line for line in lines[2:])
    assert [line.split()[2] for line in lines[2:]] == ["P2-6", "P2-5", "P2-4"]


def test_summary_outcome_is_the_failure_that_ended_the_run():
    from mxsight.storage.run_summary import RunSummary

    summary = RunSummary()
    summary("start", {"uid": "u"})
    summary("descriptor", {"uid": "d", "name": "results"})
    skipped = {"results_outcome": "FitNotConfident", "results_message": "FitNotConfident: coarse residual 4 px"}
    summary("event", {"descriptor": "d", "data": skipped})
    assert summary.summary({"exit_status": "abort", "reason": "interrupted by the operator"})["outcome"] == "aborted"
    assert summary.summary({"exit_status": "fail", "reason": "TimeoutError: omega did not arrive"})["outcome"] == "failed"
    ended = summary.summary({"exit_status": "fail", "reason": "FitNotConfident: coarse residual 4 px"})
    assert ended["outcome"] == "FitNotConfident" and ended["reason"].endswith("4 px")
    summary("event", {"descriptor": "d", "data": {"results_outcome": "moved", "results_target": "crystal", "results_model": "slab", "results_residual_rms_px": 0.4}})
    moved = summary.summary({"exit_status": "success"})
    assert moved["outcome"] == "success" and moved["crystal_found"] and moved["passes_moved"] == 1 and moved["residual_rms_px"] == 0.4


def test_starting_a_server_leaves_the_sessions_log_files_open(tmp_path):
    """A session's log file (mode "w", which Python >= 3.12 never reopens once closed) keeps its stream
    and its records across an embedded server's start, and a second server closes the first one's
    error log handler, not its own."""
    import logging

    handler = logging.FileHandler(tmp_path / "session.log", mode="w")
    stream = handler.stream
    logger = logging.getLogger("mxsight-session-test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with EmbeddedTiled.start(tmp_path / "first"):
            first = list(logging.getLogger("tiled").handlers)
            with EmbeddedTiled.start(tmp_path / "second"):
                second = list(logging.getLogger("tiled").handlers)
        logger.info("after the servers")
        assert handler.stream is stream and not stream.closed
        handler.flush()
        assert (tmp_path / "session.log").read_text() == "after the servers\n"
        assert first and all(h.stream is None for h in first), "the first server's error log was not closed"
        assert second and all(h.stream is not None for h in second)
    finally:
        logger.removeHandler(handler)
        handler.close()
