"""Load: a PostgreSQL-backed ``mxsight tiled serve`` holding many recorded alignments.

    python benchmarks/load.py [--alignments 10000] [--writers 2] [--workers 4] [--repeats 30] [--queued 100]

Starts a throwaway PostgreSQL cluster and ``mxsight tiled serve`` on it (the helpers of
tests/postgres_cluster.py and tests/tiled_process.py). Records two template alignments with the real
plan (``auto_centre`` on the simulated beamline with exact masks, 12 frames): a centred sample and an
empty pin (SampleNotFound). Then ``--writers`` processes write ``--alignments`` alignments through the
RunEngine's own Tiled callback (spooled, then written with the write key): each is a template's
documents with new uids, a sample id and puck, a start time spread over 30 days, a model version, and
one run in four an empty pin. Frames stay the templates' HDF5 files, registered again, not copied.

Reports: write throughput (alignments/s, all writers together); with the read key, the latency (median,
95th percentile over ``--repeats``) of ``find_alignments`` by sample, puck, date range, outcome and
model version, and of ``mxsight runs`` (the command's work, in process, and the whole command with
Python's start-up); and the server's memory (resident, all its processes); then ``--queued`` collections
through bluesky-queueserver on the same server (benchmarks/queue_load.py: none lost, RE Manager memory).
Targets (issue 31): p95 query <= 200 ms, ``mxsight runs`` <= 1 s, writing >= 10 alignments/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

DAY_S = 86400.0


def record_templates(frames: Path) -> list[list[tuple[str, dict]]]:
    """The documents of a centred alignment and of an empty pin's, recorded by the real plan."""
    from bluesky import RunEngine
    from truth import TruthSegmenter

    from mxsight.devices.sim import make_sim_beamline
    from mxsight.plans.auto_centre import auto_centre
    from mxsight.plans.errors import AlignmentError
    from mxsight.plans.sweeps import Sweep
    from mxsight.sim.scene import random_sample

    import logging

    logging.getLogger("bluesky").setLevel(logging.CRITICAL)  # the empty pin's SampleNotFound is expected
    templates = []
    for sample in (random_sample(3), None):
        documents: list[tuple[str, dict]] = []
        RE = RunEngine({}, call_returns_result=True)
        RE.subscribe(lambda name, doc: documents.append((name, json.loads(json.dumps(doc, default=_plain)))))
        beamline = make_sim_beamline(sample=sample, zoom_level=6, write_directory=frames)
        try:
            RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="template", sweeps=(Sweep(frames=12),),
                           segmenter=TruthSegmenter(beamline.camera), search=None))
        except AlignmentError:
            pass
        templates.append(documents)
    return templates


def _plain(value):
    return value.tolist() if isinstance(value, np.ndarray) else value.item() if isinstance(value, np.generic) else str(value)


def renamed(documents: list[tuple[str, dict]], index: int, start_time: float) -> list[tuple[str, dict]]:
    """``documents`` as a new run: fresh uids everywhere they are named, times shifted to ``start_time``."""
    text = json.dumps(documents)
    for old in {doc["uid"] for _, doc in documents if "uid" in doc and "/" not in doc["uid"]}:
        text = text.replace(old, str(uuid.uuid4()))
    renamed_documents = json.loads(text)
    shift = start_time - renamed_documents[0][1]["time"]
    puck, pin = f"L{index // 16:04d}", index % 16
    for name, doc in renamed_documents:
        if "time" in doc:
            doc["time"] += shift
        if name == "start":
            doc.update(sample_id=f"{puck}-{pin}", puck=puck, model_version="v1" if index % 2 else "v2")
    return renamed_documents


WRITER = """
import json, sys, time
sys.path.insert(0, {tests!r}); sys.path.insert(0, {benchmarks!r})
from load import renamed
from mxsight.storage.tiled import connect, spooling_writer
templates = json.load(open({templates!r}))
first, count, t0 = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
writer = spooling_writer(connect({address!r}, access="write"), sys.argv[4], {address!r}, say=lambda line: print(line, file=sys.stderr))
for index in range(first, first + count):
    for name, doc in renamed(templates[1 if index % 4 == 3 else 0], index, t0 + 30 * 86400.0 * index / {total}):
        writer(name, doc)
assert writer.flush(600)
"""


def write(address: str, keys_file: Path, templates_file: Path, total: int, writers: int, folder: Path) -> float:
    """Write ``total`` alignments from ``writers`` processes; returns the wall time in seconds."""
    script = WRITER.format(tests=str(Path(__file__).parents[1] / "tests"), benchmarks=str(Path(__file__).parent), templates=str(templates_file),
                           address=address, total=total)
    environment = {**os.environ, "MXSIGHT_TILED_KEYS": str(keys_file)}
    environment.pop("TILED_API_KEY", None)
    share = -(-total // writers)
    started = time.perf_counter()
    t0 = time.time() - 31 * DAY_S
    processes = [
        subprocess.Popen([sys.executable, "-c", script, str(first), str(min(share, total - first)), str(t0), str(folder / f"spool-{n}")], env=environment)
        for n, first in enumerate(range(0, total, share))
    ]
    for process in processes:
        if process.wait() != 0:
            raise RuntimeError("a writer failed")
    return time.perf_counter() - started


def latencies_ms(call, repeats: int) -> tuple[float, float]:
    call()  # warm
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times), float(np.percentile(times, 95))


def server_memory_mb(port: int) -> float:
    """Resident memory of the processes serving ``port`` (uvicorn's supervisor and workers)."""
    total = 0
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            if "app_factory" in command or ("multiprocessing" in command and _parent_serves(pid, port)):
                total += int(next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmRSS")).split()[1])
        except (OSError, StopIteration):
            continue
    return total / 1024


def _parent_serves(pid: str, port: int) -> bool:
    parent = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("PPid")).split()[1]
    try:
        return "app_factory" in Path(f"/proc/{parent}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alignments", type=int, default=10000)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--queued", type=int, default=100, help="queued collections run afterwards through bluesky-queueserver (0: none)")
    args = parser.parse_args()

    from tiled.client import from_uri
    from tiled_process import mxsight_tiled_server

    from mxsight.storage.queries import alignments_table, find_alignments

    folder = Path(tempfile.mkdtemp(prefix="mxsight-load-"))
    with mxsight_tiled_server(folder, workers=args.workers) as served:
        templates_file = folder / "templates.json"
        templates_file.write_text(json.dumps(record_templates(served.frames_directory)))
        seconds = write(served.address, served.keys_file, templates_file, args.alignments, args.writers, folder)
        reader = from_uri(served.address, api_key=served.keys.read)
        stored = len(find_alignments(reader))
        middle = time.time() - 16 * DAY_S
        queries = {
            "by sample": lambda: list(find_alignments(reader, sample_id="L0007-5")),
            "by puck": lambda: list(find_alignments(reader, puck="L0003")),
            "date range (1 day)": lambda: list(find_alignments(reader, since=middle, until=middle + DAY_S)),
            "outcome SampleNotFound (first page)": lambda: list(find_alignments(reader, outcome="SampleNotFound").keys()[:20]),
            "model version (first page)": lambda: list(find_alignments(reader, model_version="v1").keys()[:20]),
            "mxsight runs, its work (20 newest)": lambda: alignments_table(find_alignments(reader), limit=20),
        }
        rows = [(name, *latencies_ms(call, args.repeats)) for name, call in queries.items()]
        environment = {**os.environ, "MXSIGHT_TILED_KEYS": str(served.keys_file)}
        environment.pop("TILED_API_KEY", None)
        command = [sys.executable, "-m", "mxsight.cli", "runs", "--tiled", served.address]
        rows.append(("mxsight runs, whole command", *latencies_ms(lambda: subprocess.run(command, env=environment, check=True, capture_output=True), 5)))
        memory = server_memory_mb(int(served.address.split(":")[2].split("/")[0]))
        queued = None
        if args.queued:
            from queue_load import run_queue

            queued = run_queue(served.address, served.keys_file, served.data_dir, args.queued, folder)

    print(f"load: {stored} alignments stored ({args.alignments} written by {args.writers} processes), server with {args.workers} workers on PostgreSQL")
    print(f"write throughput: {args.alignments / seconds:.1f} alignments/s ({seconds:.0f} s; target >= 10)")
    print("| query | median (ms) | p95 (ms) | target p95 (ms) | p95 / target |")
    print("|---|---|---|---|---|")
    for name, median, p95 in rows:
        target = 1000.0 if name.startswith("mxsight runs") else 200.0
        print(f"| {name} | {median:.0f} | {p95:.0f} | {target:.0f} | {p95 / target:.2f} |")
    print(f"server memory (resident, all processes): {memory:.0f} MB")
    if queued is not None:
        from queue_load import report

        print(report(queued))


if __name__ == "__main__":
    main()
