"""Nothing lost when Tiled goes away: every document is spooled on disk before the plan goes on, the
plan's outcome does not depend on Tiled, and ``mxsight replay`` puts the run in Tiled exactly once."""

import contextlib
import secrets

import numpy as np
import pytest
from bluesky import RunEngine
from tiled.client import from_uri

from mxsight.cli import console_main
from mxsight.devices.sim import make_sim_beamline
from mxsight.plans.auto_centre import auto_centre
from mxsight.storage.queries import find_alignments
from mxsight.storage.replay import spooled_documents
from mxsight.storage.tiled import spooling_writer
from tiled_process import free_port, tiled_process


@pytest.fixture
def few_retries(monkeypatch):
    """The Tiled client gives up on a dead server after 2 tries within 1 s (default: 10 within 45 s)."""
    import tiled.client.utils

    monkeypatch.setattr(tiled.client.utils, "TILED_RETRY_ATTEMPTS", 2)
    monkeypatch.setattr(tiled.client.utils, "TILED_RETRY_TIMEOUT", 1.0)


class KillWhen:
    """A RunEngine callback that kills the Tiled server process at a moment of the run: the n-th frame's
    event (``"frame 4"``) or the opening of the ``results`` stream (``"results"``), just before the move."""

    def __init__(self, process, moment: str):
        self.process, self.moment, self.frames = process, moment, 0
        self._primary: set[str] = set()

    def __call__(self, name, doc):
        if name == "descriptor" and doc["name"] == "primary":
            self._primary.add(doc["uid"])
        if name == "event" and doc["descriptor"] in self._primary:
            self.frames += 1
        if self.process.poll() is None and (
            (self.moment == "results" and name == "descriptor" and doc["name"] == "results")
            or self.moment == f"frame {self.frames}"
        ):
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.mark.parametrize("moment", ["frame 4", "results"])
def test_tiled_killed_mid_run_the_run_completes_on_disk_and_replays_once(tmp_path, few_retries, monkeypatch, capsys, moment):
    server_dir, frames, spool = tmp_path / "server", tmp_path / "frames", tmp_path / "spool"
    frames.mkdir()
    key, port = secrets.token_hex(16), free_port()
    address = f"http://127.0.0.1:{port}/api/v1"
    lines = []
    beamline = make_sim_beamline(seed=3, write_directory=frames)
    with tiled_process(server_dir, frames, key, port, init=True) as server:
        client = from_uri(address, api_key=key)
        RE = RunEngine({}, call_returns_result=True)
        RE.subscribe(spooling_writer(client, spool, address, stall_s=5.0, say=lines.append))
        RE.subscribe(KillWhen(server, moment))
        result = RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="killed"))
    uid = result.run_start_uids[0]
    assert result.exit_status == "success"  # the sample was centred as if Tiled had stayed
    assert beamline.target_errors_um(result.plan_result.target)["from_beam_um"] < 10
    assert len(lines) == 1 and uid in lines[0] and f"mxsight replay {spool} --tiled {address}" in lines[0] and key not in lines[0]

    documents = list(spooled_documents(spool / f"{uid}.jsonl"))  # the whole run, on disk
    names = [name for name, _ in documents]
    assert names[0] == "start" and names[-1] == "stop" and names.count("stream_resource") >= 1
    stop = documents[-1][1]
    assert names.count("event") == sum(stop["num_events"].values())

    monkeypatch.setenv("TILED_API_KEY", key)
    with tiled_process(server_dir, frames, key, port, init=False):
        assert not from_uri(address, api_key=key)[uid].metadata.get("stop")  # Tiled kept the run's start only
        assert console_main(["replay", str(spool), "--tiled", address]) == 0
        assert f"run {uid}: written" in capsys.readouterr().out
        assert console_main(["replay", str(spool), "--tiled", address]) == 0  # replaying again adds nothing
        assert "nothing to replay" in capsys.readouterr().out
        client = from_uri(address, api_key=key)
        assert list(find_alignments(client, sample_id="killed")) == [uid]
        run = client[uid]
        assert run.metadata["stop"]["exit_status"] == "success"
        images = np.asarray(run["primary"]["oav_image"].read())
        assert len(images) == stop["num_events"]["primary"]
        resource = next(doc for name, doc in documents if name == "stream_resource" and doc["data_key"] == "oav_image")
        import h5py

        with h5py.File(resource["uri"].split("localhost", 1)[1], "r") as written:
            assert np.array_equal(images, np.asarray(written[resource["parameters"]["dataset"]]))  # bit-identical


def _count_run(writer, frames: int = 3) -> str:
    import bluesky.plans as bp
    from ophyd.sim import det

    RE = RunEngine({}, call_returns_result=True)
    RE.subscribe(writer)
    return RE(bp.count([det], num=frames)).run_start_uids[0]


def test_tiled_down_before_a_run_keeps_it_on_disk_with_one_line(tmp_path):
    import httpx

    def unreachable():
        raise httpx.ConnectError("[Errno 111] Connection refused")

    lines = []
    from mxsight.storage.spool import SpoolingWriter

    uid = _count_run(SpoolingWriter(unreachable, tmp_path / "spool", uri="http://127.0.0.1:1/api/v1", say=lines.append))
    assert [name for name, _ in spooled_documents(tmp_path / "spool" / f"{uid}.jsonl")] == ["start", "descriptor", "event", "event", "event", "stop"]
    assert len(lines) == 1 and lines[0].startswith("Tiled at http://127.0.0.1:1/api/v1 unreachable (ConnectError")
    assert f"run {uid} kept in {tmp_path / 'spool'}" in lines[0]


def test_a_slow_tiled_never_holds_the_run_engine_past_the_stall_limit(tmp_path):
    import time

    from mxsight.storage.spool import WRITTEN, SpoolingWriter

    received = []

    def slow(name, doc):
        time.sleep(1.0)  # each request takes a second
        received.append(name)

    lines = []
    writer = SpoolingWriter(lambda: slow, tmp_path / "spool", uri="http://slow", stall_s=0.5, say=lines.append)
    started = time.perf_counter()
    uid = _count_run(writer, frames=5)
    assert time.perf_counter() - started < 3.0  # 8 documents at 1 s each were not waited for
    assert len(lines) == 1 and "has not answered for" in lines[0]
    assert writer.flush(timeout_s=20)  # the writer catches up in the background
    assert received[-1] == "stop" and len(received) == 8
    assert (tmp_path / "spool" / WRITTEN / f"{uid}.jsonl").exists() and not (tmp_path / "spool" / f"{uid}.jsonl").exists()
    assert oct((tmp_path / "spool").stat().st_mode & 0o777) == "0o700"
    assert oct((tmp_path / "spool" / WRITTEN / f"{uid}.jsonl").stat().st_mode & 0o777) == "0o600"


def test_a_tiled_taking_5_s_per_request_holds_the_run_engine_at_most_a_second_per_document(tmp_path):
    import time

    from mxsight.storage.spool import SpoolingWriter

    def five_seconds(name, doc):
        time.sleep(5.0)

    lines = []
    writer = SpoolingWriter(lambda: five_seconds, tmp_path / "spool", uri="http://slow", say=lines.append)  # default stall_s: 10 s
    started = time.perf_counter()
    uid = _count_run(writer, frames=1)  # start, descriptor, event, stop
    assert 4.0 <= time.perf_counter() - started < 8.0  # its budget, 4 s, not the 20 s the 4 requests take
    assert lines == [f"Tiled at http://slow is slow: run {uid} not written after 4 s, still being sent from {tmp_path / 'spool'}; "
                     f"if it is not there once this session ends, replay with: mxsight replay {tmp_path / 'spool'} --tiled http://slow"]
    assert [name for name, _ in spooled_documents(tmp_path / "spool" / f"{uid}.jsonl")] == ["start", "descriptor", "event", "stop"]


def test_replay_adds_the_summary_of_a_run_that_arrived_without_it(tmp_path, tiled):
    from bluesky_tiled_plugins import TiledWriter

    from mxsight.storage.replay import replay
    from mxsight.storage.spool import SpoolingWriter
    from mxsight.storage.tiled import SummarisingWriter

    class SummaryLost(SummarisingWriter):
        """Tiled takes the run, then fails as its summary is written."""

        def __call__(self, name, doc):
            if name == "stop":
                TiledWriter.__call__(self.tiled_writer, name, doc)
                raise ConnectionError("Tiled went away")
            super().__call__(name, doc)

    lines = []
    uid = _count_run(SpoolingWriter(lambda: SummaryLost(tiled.client), tmp_path / "spool", uri=tiled.address, say=lines.append))
    assert len(lines) == 1 and "ConnectionError: Tiled went away" in lines[0]
    assert tiled.client[uid].metadata["stop"] and "summary" not in tiled.client[uid].metadata
    assert [(r.uid, r.outcome) for r in replay(tmp_path / "spool", tiled.client, lambda: SummarisingWriter(tiled.client))] == [(uid, "already in Tiled; summary added")]
    summary = tiled.client[uid].metadata["summary"]
    assert summary["outcome"] == "success" and summary["frames"] == 3 and summary["residual_rms_px"] is None
    assert replay(tmp_path / "spool", tiled.client, lambda: SummarisingWriter(tiled.client)) == []


def test_commands_name_an_unknown_run_in_one_line(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    assert console_main(["review", "ffffffff", "accepted", "--data-dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["mxsight: error: 0 runs have a uid starting with 'ffffffff'"]
    assert console_main(["runs", "--tiled", "http://127.0.0.1:1/api/v1"]) == 2
    assert capsys.readouterr().err.startswith("mxsight: error: Tiled at http://127.0.0.1:1/api/v1 unreachable (ConnectError")


def test_a_full_disk_stops_the_plan_before_a_result_it_cannot_record_moves_anything(tmp_path, tiled):
    import errno

    from mxsight.storage.spool import SpoolingWriter
    from mxsight.storage.tiled import SummarisingWriter

    class FullDisk(SpoolingWriter):
        """The disk fills up when the first result is to be spooled."""

        results: set[str] = set()

        def __call__(self, name, doc):
            if name == "descriptor" and doc["name"] == "results":
                self.results.add(doc["uid"])
            if name == "event" and doc["descriptor"] in self.results:
                raise OSError(errno.ENOSPC, "No space left on device")
            super().__call__(name, doc)

    beamline = make_sim_beamline(seed=3, write_directory=tmp_path / "frames")
    moved = ("centring_x", "centring_y", "alignment_y")
    before = {name: getattr(beamline.goniometer, name).position for name in moved}
    RE = RunEngine({}, call_returns_result=True)
    RE.subscribe(FullDisk(lambda: SummarisingWriter(tiled.client), tmp_path / "spool", uri=tiled.address))
    with pytest.raises(OSError, match="No space left on device"):
        RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="full-disk"))
    assert {name: getattr(beamline.goniometer, name).position for name in moved} == before


def test_a_second_process_on_one_data_folder_is_refused_by_name(tiled):
    import subprocess
    import sys

    script = f"from mxsight.cli import console_main; raise SystemExit(console_main(['runs', '--data-dir', {str(tiled.directory)!r}]))"
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert f"mxsight: error: the data folder {tiled.directory} is in use by process " in completed.stderr


@contextlib.contextmanager
def read_only(folder):
    """``folder`` read-only for this process, root included: a read-only bind mount of itself (as
    root), its write permission taken away (otherwise)."""
    import os
    import subprocess

    if os.geteuid() != 0:
        os.chmod(folder, 0o500)
        try:
            yield
        finally:
            os.chmod(folder, 0o700)
        return
    for command in (["mount", "--bind", str(folder), str(folder)], ["mount", "-o", "remount,bind,ro", str(folder)]):
        if subprocess.run(command, capture_output=True).returncode != 0:
            subprocess.run(["umount", str(folder)], capture_output=True)
            pytest.skip(f"cannot make {folder} read-only here: {' '.join(command)} was refused")
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


def test_a_read_only_frames_folder_stops_the_plan_by_name_before_anything_moves(tmp_path, tiled):
    beamline = make_sim_beamline(seed=3, write_directory=tmp_path / "frames")
    (tmp_path / "frames").mkdir()
    moved = ("centring_x", "centring_y", "alignment_y", "omega")
    before = {name: getattr(beamline.goniometer, name).position for name in moved}
    RE = RunEngine({}, call_returns_result=True)
    writer = tiled.writer()
    RE.subscribe(writer)
    with read_only(tmp_path / "frames"), pytest.raises(OSError) as raised:
        RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="read-only"))
    assert str(raised.value).splitlines() == [str(raised.value)]
    assert f"oav_image: cannot write frames in {tmp_path / 'frames'}: " in str(raised.value)
    assert {name: getattr(beamline.goniometer, name).position for name in moved} == before
    assert writer.flush(timeout_s=30)
    assert not list((tmp_path / "frames").iterdir())  # nothing half-written, nothing to lose


def test_a_read_only_data_folder_is_one_line_and_nothing_runs(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    with read_only(tmp_path / "data"):
        assert console_main(["demo", "--data-dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mxsight: error: ") and str(tmp_path / "data") in err[0], err
    assert not list((tmp_path / "data").iterdir())
