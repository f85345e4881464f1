"""``mxsight tiled serve`` on PostgreSQL: several workers, a write key and a read key, several
RunEngine processes writing at once, and the retraining loop's review and export answered from it;
and on its SQLite default."""

import os
import subprocess
import sys

import bluesky.plans as bp
import pytest
from bluesky import RunEngine
from ophyd.sim import det
from postgres_cluster import postgres_bin
from tiled.client import from_uri
from tiled.client.utils import ClientError
from tiled.queries import Key
from tiled_process import mxsight_tiled_server

from mxsight.storage.tiled import spooling_writer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``mxsight tiled serve`` with its catalog on a throwaway PostgreSQL cluster, 2 workers."""
    if postgres_bin() is None:
        pytest.skip("no PostgreSQL binaries (initdb): install the postgresql package")
    with mxsight_tiled_server(tmp_path_factory.mktemp("tiled-server")) as served:
        yield served


def test_the_keys_file_is_private_and_the_keys_are_never_shown(server):
    keys = server.keys
    assert server.keys_file.stat().st_mode & 0o077 == 0 and server.keys_file.parent.stat().st_mode & 0o077 == 0
    printed = server.output.read_text()
    assert keys.write not in printed and keys.read not in printed and str(server.keys_file) in printed
    assert server.data_dir.stat().st_mode & 0o077 == 0


def test_the_write_key_writes_and_the_read_key_only_reads(server, tmp_path):
    keys, address = server.keys, server.address
    RE = RunEngine({}, call_returns_result=True)
    RE.subscribe(spooling_writer(from_uri(address, api_key=keys.write), tmp_path / "spool", address))
    uid = RE(bp.count([det], num=3)).run_start_uids[0]
    reader = from_uri(address, api_key=keys.read)
    assert list(reader[uid]["primary"]["det"].read()) == [1.0, 1.0, 1.0]
    with pytest.raises(ClientError, match="Not enough permissions"):
        reader.create_container("intruder")
    with pytest.raises(ClientError, match="Not enough permissions"):
        reader[uid].update_metadata({"tampered": True})
    with pytest.raises(ClientError):
        from_uri(address, api_key="00" * 32)
    log = (server.data_dir / "tiled-server.log").read_text()
    assert "GET /api/v1" in log and keys.write not in log and keys.read not in log


def test_a_run_holding_infinities_is_stored_and_read_back_with_nulls(server, tmp_path):
    """JSON has no infinity; PostgreSQL's JSONB must not be handed one (a run no one could read back)."""
    keys, address = server.keys, server.address
    RE = RunEngine({}, call_returns_result=True)
    writer = spooling_writer(from_uri(address, api_key=keys.write), tmp_path / "spool", address, say=pytest.fail)
    RE.subscribe(writer)
    uid = RE(bp.count([det], num=1, md={"limits": {"max_um": float("inf"), "min_um": 1.5}, "nan": float("nan")})).run_start_uids[0]
    reader = from_uri(address, api_key=keys.read)
    start = reader[uid].metadata["start"]
    assert start["limits"] == {"max_um": None, "min_um": 1.5} and start["nan"] is None
    summary = reader[uid].metadata["summary"]
    assert summary["outcome"] == "success" and summary["residual_rms_px"] is None  # a null is kept, not dropped
    assert uid in reader.search(Key("start.limits.min_um") == 1.5)


def _tiled_sql(query) -> tuple[str, list]:
    """The SQL condition Tiled's catalog makes of ``query`` on PostgreSQL, and its parameters."""
    from types import SimpleNamespace

    from sqlalchemy import select
    from sqlalchemy.dialects import postgresql
    from tiled.catalog import adapter, orm

    class Tree(SimpleNamespace):
        def new_variation(self, conditions):
            return conditions

    dialect = postgresql.asyncpg.dialect()
    tree = Tree(conditions=[], context=SimpleNamespace(engine=SimpleNamespace(url=SimpleNamespace(get_dialect=lambda: dialect))))
    search = {"comparison": adapter.comparison, "like": adapter.like}[type(query).__name__.lower()]
    compiled = select(orm.Node.key).where(*search(query, tree)).compile(dialect=dialect)
    return str(compiled), [compiled.params[name] for name in compiled.positiontup]


def test_date_range_and_outcome_searches_use_mxsight_indexes(server):
    """The SQL Tiled generates for ``find_alignments(since=...)`` and ``(outcome=...)`` matches the
    expression indexes ``mxsight tiled serve`` created, so the planner can read only matching runs."""
    import asyncio
    import json

    import asyncpg
    from tiled.queries import Comparison, Like

    from mxsight.storage.catalog_indexes import QUERY_INDEXES

    async def plans() -> dict[str, str]:
        connection = await asyncpg.connect(server.database)
        try:
            await connection.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
            names = {row["indexname"] for row in await connection.fetch("SELECT indexname FROM pg_indexes WHERE tablename = 'nodes'")}
            assert set(QUERY_INDEXES) <= names
            await connection.execute("SET enable_seqscan = off")  # a test catalog is small enough to scan
            found = {}
            for index, query in (("ix_mxsight_start_time", Comparison("ge", "start.time", 1.7e9)), ("ix_mxsight_stop_reason", Like("stop.reason", "SampleNotFound:%"))):
                sql, parameters = _tiled_sql(query)
                found[index] = "\n".join(row[0] for row in await connection.fetch(f"EXPLAIN {sql}", *parameters))
            return found
        finally:
            await connection.close()

    for index, plan in asyncio.run(plans()).items():
        assert index in plan, plan


def test_stream_closes_answered_at_once_still_need_a_write_key(server, tmp_path):
    import httpx

    keys, address = server.keys, server.address
    RE = RunEngine({}, call_returns_result=True)
    RE.subscribe(spooling_writer(from_uri(address, api_key=keys.write), tmp_path / "spool", address, say=pytest.fail))
    uid = RE(bp.count([det], num=1)).run_start_uids[0]
    close = f"{address.removesuffix('/api/v1')}/api/v1/stream/close/{uid}"
    assert httpx.delete(close, headers={"Authorization": f"Apikey {keys.write}"}).status_code == 200
    assert httpx.delete(close, headers={"Authorization": f"Apikey {keys.read}"}).status_code in (401, 403)
    assert httpx.delete(close, headers={"Authorization": f"Apikey {'00' * 32}"}).status_code == 401
    assert httpx.delete(close).status_code == 401


WRITER = """
import sys
import bluesky.plans as bp
from bluesky import RunEngine
from ophyd.sim import det
from mxsight.storage.tiled import connect, spooling_writer
RE = RunEngine({{}})
RE.subscribe(spooling_writer(connect({address!r}, access="write"), sys.argv[1], {address!r}, say=lambda line: sys.exit(line)))
for n in range(5):
    RE(bp.count([det], num=2, md={{"writer": sys.argv[2]}}))
"""


def test_two_run_engine_processes_write_at_once_without_errors(server, tmp_path):
    from tiled.queries import Key

    environment = {**os.environ, "MXSIGHT_TILED_KEYS": str(server.keys_file)}
    environment.pop("TILED_API_KEY", None)
    script = WRITER.format(address=server.address)
    writers = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / f"spool-{n}"), f"w{n}"], env=environment, stderr=subprocess.PIPE, text=True) for n in (1, 2)]
    for writer in writers:
        _, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err[-3000:]
    reader = from_uri(server.address, api_key=server.keys.read)
    for name in ("w1", "w2"):
        runs = reader.search(Key("start.writer") == name)
        assert len(runs) == 5 and all(run.metadata["stop"]["exit_status"] == "success" for run in runs.values())
    assert not list((tmp_path / "spool-1").glob("*.jsonl")) and len(list((tmp_path / "spool-1" / "written").glob("*.jsonl"))) == 5


def test_review_and_export_of_the_retraining_loop_use_the_hosts_keys(server, tmp_path, monkeypatch):
    from truth import TruthSegmenter

    from mxsight.cli import console_main
    from mxsight.devices.sim import make_sim_beamline
    from mxsight.plans.auto_centre import auto_centre
    from mxsight.plans.sweeps import Sweep
    from mxsight.sim.scene import random_sample
    from mxsight.training.dataset_format import LabelledDataset

    RE = RunEngine({}, call_returns_result=True)
    RE.subscribe(spooling_writer(from_uri(server.address, api_key=server.keys.write), tmp_path / "spool", server.address))
    beamline = make_sim_beamline(sample=random_sample(3), zoom_level=5, write_directory=server.frames_directory)
    uid = RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="pg-good", sweeps=(Sweep(frames=6),),
                         segmenter=TruthSegmenter(beamline.camera), search=None)).run_start_uids[0]
    monkeypatch.delenv("TILED_API_KEY", raising=False)
    monkeypatch.setenv("MXSIGHT_TILED_KEYS", str(server.keys_file))  # review writes (write key), export reads (read key)
    assert console_main(["review", uid[:8], "accepted", "--tiled", server.address]) == 0
    assert console_main(["dataset", "export", "--tiled", server.address, "--out", str(tmp_path / "exported"), "--sample", "pg-good"]) == 0
    labelled = list(LabelledDataset(tmp_path / "exported" / "labelled"))
    assert len(labelled) == 6 and {example.metadata["run_uid"] for example in labelled} == {uid}


def test_without_a_database_the_server_keeps_its_catalog_in_sqlite(tmp_path):
    import time

    import httpx
    from tiled_process import free_port

    from mxsight.storage.tiled_keys import read_keys

    port, keys_file = free_port(), tmp_path / "keys.toml"
    command = [sys.executable, "-m", "mxsight.cli", "tiled", "serve", "--data-dir", str(tmp_path / "server"), "--port", str(port), "--keys", str(keys_file)]
    with open(tmp_path / "serve.out", "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert process.poll() is None, (tmp_path / "serve.out").read_text()[-3000:]
        keys, address = read_keys(keys_file), f"http://127.0.0.1:{port}/api/v1"
        RE = RunEngine({}, call_returns_result=True)
        RE.subscribe(spooling_writer(from_uri(address, api_key=keys.write), tmp_path / "spool", address))
        uid = RE(bp.count([det], num=2)).run_start_uids[0]
        assert list(from_uri(address, api_key=keys.read)[uid]["primary"]["det"].read()) == [1.0, 1.0]
        assert "1 worker(s), catalog sqlite" in (tmp_path / "serve.out").read_text()
        assert (tmp_path / "server" / "catalog.db").exists() and (tmp_path / "server" / "tiled-server.log").stat().st_mode & 0o077 == 0
    finally:
        process.terminate()
        process.wait(timeout=30)
