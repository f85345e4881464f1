"""Queued collections at load: bluesky-queueserver's RE Manager on the mxsight profile, writing to a
Tiled server, runs many queued multi-orientation collections.

    python benchmarks/queue_load.py [--items 100]          (its own PostgreSQL-backed server)

or from ``benchmarks/load.py --queued N`` on the server it filled. A throwaway Redis and RE Manager
(``mxsight.queue.manager_command``) load the profile with ``MXSIGHT_TILED`` set to the server (write
key from the keys file); ``--items`` items of one orientation each (centre, raster, collect: 3 runs),
one in ten an empty pin (SampleNotFound: fails alone, the queue goes on). Reports items finished and
failed, runs the manager reported against runs found in Tiled with a stop document (none lost), time
per item, and the RE Manager's memory (manager and worker processes, resident) with the environment
open and after every 10 items (the first 10 load the network).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

PROFILE = Path(__file__).parents[1] / "profile_collection"
ORIENTATION = "[[orientation]]\nkappa_deg = 0.0\nphi_deg = 0.0\n"
BATCH = 10  # items queued at a time; memory is read after each batch (the first loads the network)


def tree_memory_mb(pid: int) -> float:
    """Resident memory of process ``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = dict(line.split(":", 1) for line in Path(f"/proc/{entry}/status").read_text().splitlines() if ":" in line)
        except OSError:
            continue
        children.setdefault(int(status["PPid"].strip()), []).append(int(entry))
        rss[int(entry)] = int(status.get("VmRSS", "0 kB").split()[0])
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += rss.get(current, 0)
        todo += children.get(current, [])
    return total / 1024


def run_queue(address: str, keys_file: Path, data_dir: Path, items: int, folder: Path) -> dict[str, object]:
    """Queue and run ``items`` collections against the Tiled server at ``address``; returns the figures."""
    from redis_process import redis_server
    from tiled.client import from_uri
    from tiled_process import free_port

    from mxsight.queue import QueueAddresses, collection_item, connect, manager_command, queue_collections
    from mxsight.storage.tiled_keys import read_keys

    empty = [f"QL-{n}" for n in range(items) if n % 10 == 9]
    (folder / "beamline.toml").write_text(f'[beamline]\nkind = "simulated"\nname = "queue-load"\n\n[simulated]\nzoom = 5\nempty_pins = {empty!r}\n'.replace("'", '"'))
    (folder / "orientations.toml").write_text(ORIENTATION)
    with redis_server(folder) as redis:
        addresses = QueueAddresses(control=f"tcp://127.0.0.1:{free_port()}", info=f"tcp://127.0.0.1:{free_port()}", redis=redis)
        environment = {**os.environ, "MXSIGHT_TILED": address, "MXSIGHT_DATA": str(data_dir), "MXSIGHT_TILED_KEYS": str(keys_file),
                       "MXSIGHT_BEAMLINE": str(folder / "beamline.toml")}
        environment.pop("TILED_API_KEY", None)
        with open(folder / "manager.log", "w") as log:
            manager = subprocess.Popen(manager_command(PROFILE, folder / "manager", addresses), env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        api = connect(addresses)
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    if api.status()["manager_state"] == "idle":
                        break
                except Exception:  # not listening yet
                    pass
                if manager.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the RE Manager did not start: see {folder / 'manager.log'}")
                time.sleep(0.5)
            queue_collections(api, [])  # opens the environment (loads the profile)
            memory = {"environment open": tree_memory_mb(manager.pid)}
            queued = [collection_item(f"QL-{n}", folder / "orientations.toml", puck="QL", images=2) for n in range(items)]
            started = time.perf_counter()
            for first in range(0, items, BATCH):  # memory after each batch: warm after the first (model loaded)
                last = min(first + BATCH, items)
                queue_collections(api, queued[first:last], start=True)
                api.wait_for_idle(timeout=60 * (last - first))
                memory[f"after {last} items"] = tree_memory_mb(manager.pid)
            seconds = time.perf_counter() - started
            history = api.history_get()["items"]
        finally:
            api.close()
            os.killpg(manager.pid, signal.SIGTERM)
            manager.wait(60)
    reported = [uid for item in history for uid in item["result"].get("run_uids", [])]
    reader = from_uri(address, api_key=read_keys(keys_file).read)
    in_tiled = [uid for uid in reported if uid in reader]
    complete = sum(1 for uid in in_tiled if reader[uid].metadata.get("stop"))
    states = [item["result"]["exit_status"] for item in history]
    failed_as_expected = sum(1 for item in history if item["result"]["exit_status"] == "failed" and item["kwargs"]["sample_id"] in empty)
    return {
        "items": items, "finished": len(history), "completed": states.count("completed"), "failed": states.count("failed"),
        "expected_failed": len(empty), "failed_as_expected": failed_as_expected, "runs_reported": len(reported),
        "runs_in_tiled": len(in_tiled), "runs_complete": complete, "seconds": seconds, "memory_mb": memory,
    }


def report(figures: dict[str, object]) -> str:
    lost = figures["runs_reported"] - figures["runs_complete"]
    memory = figures["memory_mb"]
    first, last = list(memory.values())[min(1, len(memory) - 1)], list(memory.values())[-1]
    return "\n".join([
        f"queue: {figures['finished']} of {figures['items']} items finished: {figures['completed']} completed, {figures['failed']} failed "
        f"({figures['failed_as_expected']} of them the {figures['expected_failed']} empty pins); {figures['seconds'] / max(figures['finished'], 1):.1f} s per item",
        f"runs: {figures['runs_reported']} reported by the RE Manager, {figures['runs_in_tiled']} of them in Tiled, {figures['runs_complete']} complete: {lost} lost",
        "RE Manager memory (resident, manager and worker): " + ", ".join(f"{when} {mb:.0f} MB" for when, mb in memory.items())
        + (f"; last / warm {last / first:.2f}" if len(memory) > 2 else ""),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from tiled_process import mxsight_tiled_server

    folder = Path(tempfile.mkdtemp(prefix="mxsight-queue-load-"))
    with mxsight_tiled_server(folder, workers=args.workers) as served:
        figures = run_queue(served.address, served.keys_file, served.data_dir, args.items, folder)
    print(report(figures))


if __name__ == "__main__":
    main()
