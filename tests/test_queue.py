"""Queued multi-orientation collections through a real Redis and bluesky-queueserver's RE Manager on the
mxsight profile: three items queued with ``mxsight queue``, one of them an empty pin, which fails alone
with its reason while the queue goes on; all three runs' data are in Tiled."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mxsight.queue import QueueAddresses, connect, history_table, manager_command
from redis_process import redis_server
from tiled_process import free_port

PROFILE = Path(__file__).parents[1] / "profile_collection"
ORIENTATIONS = "[[orientation]]\nkappa_deg = 0.0\nphi_deg = 0.0\n\n[[orientation]]\nkappa_deg = 40.0\nphi_deg = 90.0\n"


@pytest.fixture(scope="module")
def redis_address(tmp_path_factory):
    try:
        with redis_server(tmp_path_factory.mktemp("redis")) as address:
            yield address
    except FileNotFoundError as missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}: .ci/run installs it from the system packages")
        pytest.skip(str(missing))


@pytest.fixture(scope="module")
def manager(redis_address, tmp_path_factory):
    folder = tmp_path_factory.mktemp("queue")
    (folder / "beamline.toml").write_text('[beamline]\nkind = "simulated"\nname = "sim-queue"\n\n[simulated]\nzoom = 5\nempty_pins = ["Q-2"]\n')
    (folder / "orientations.toml").write_text(ORIENTATIONS)
    addresses = QueueAddresses(control=f"tcp://127.0.0.1:{free_port()}", info=f"tcp://127.0.0.1:{free_port()}", redis=redis_address)
    environment = {**os.environ, "MXSIGHT_DATA": str(folder / "data"), "MXSIGHT_BEAMLINE": str(folder / "beamline.toml")}
    log = open(folder / "manager.log", "w")
    process = subprocess.Popen(manager_command(PROFILE, folder / "data", addresses), env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    api = connect(addresses)
    deadline = time.monotonic() + 120
    while True:
        try:
            if api.status()["manager_state"] == "idle":
                break
        except Exception:  # the manager is not listening yet
            pass
        assert process.poll() is None and time.monotonic() < deadline, (folder / "manager.log").read_text()[-3000:]
        time.sleep(0.5)
    yield api, addresses, folder
    api.close()
    os.killpg(process.pid, signal.SIGTERM)  # the manager and the processes it started
    try:
        process.wait(60)
    finally:
        os.killpg(process.pid, signal.SIGKILL) if process.poll() is None else None
        log.close()


def _cli(*args: str) -> str:
    completed = subprocess.run([sys.executable, "-m", "mxsight.cli", *args], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def test_three_queued_collections_one_failing(manager):
    api, addresses, folder = manager
    where = ["--control", addresses.control, "--info", addresses.info]
    output = _cli("queue", "multi-orientation", *where, "--sample", "Q-1", "--sample", "Q-2", "--sample", "Q-3",
                  "--orientations", str(folder / "orientations.toml"), "--puck", "Q", "--images", "2", "--start")
    assert output.count("queued Q-") == 3
    api.wait_for_idle(timeout=900)
    history = api.history_get()["items"]
    assert [item["kwargs"]["sample_id"] for item in history] == ["Q-1", "Q-2", "Q-3"]
    states = [item["result"]["exit_status"] for item in history]
    assert states == ["completed", "failed", "completed"], (folder / "manager.log").read_text()[-3000:]
    assert history[1]["result"]["msg"].startswith("Plan failed: SampleNotFound: Q-2: no orientation succeeded")
    assert [len(item["result"]["run_uids"]) for item in history] == [6, 2, 6]  # centre, raster, collect x 2 orientations
    table = history_table(api)
    assert "Q-2" in table and "SampleNotFound" in table
    status = _cli("queue", "status", *where)
    assert "0 queued, 3 finished" in status

    from mxsight.storage.queries import find_alignments
    from mxsight.storage.tiled import EmbeddedTiled

    api.environment_close()
    api.wait_for_idle(timeout=60)
    with EmbeddedTiled.start(folder / "data") as tiled:
        every_plan = find_alignments(tiled.client, puck="Q", plan_name=None)
        assert len(every_plan) == 14
        for item in history:
            for uid in item["result"]["run_uids"]:
                assert tiled.client[uid].metadata["start"]["sample_id"] == item["kwargs"]["sample_id"]
        collections = find_alignments(tiled.client, puck="Q", plan_name="collect")
        assert sorted(run.metadata["start"]["sample_id"] for run in collections.values()) == ["Q-1", "Q-1", "Q-3", "Q-3"]
        failed = find_alignments(tiled.client, sample_id="Q-2", outcome="SampleNotFound")
        assert len(failed) == 2 and all(run.metadata["summary"]["frames"] > 0 for run in failed.values())
