"""Every document on local disk before the plan goes on; Tiled written behind, from a thread.

:class:`SpoolingWriter` is the RunEngine's callback for Tiled. Each document is appended to the run's
spool file (``<spool>/<start uid>.jsonl``, JSON Lines, private to the user) and flushed *in the
RunEngine's call*, so nothing a plan acts on exists only in memory; then it is queued for a worker
thread that writes it to Tiled. The RunEngine never waits on the network, except at a run's stop (so a
run that ended can be queried at once), and then at most :data:`SECONDS_PER_DOCUMENT` for each of the
run's documents, and only while Tiled keeps answering: when Tiled fails, has not answered for
``stall_s``, or is slower than that, the plan goes on and one line says where the run is kept and how
to send it (``mxsight replay``). A run Tiled
received whole moves to ``<spool>/written/``; a run it did not stays in ``<spool>/`` for
:func:`mxsight.storage.replay.replay`. Frames are HDF5 files the runs reference by path: they are on
disk already.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

WRITTEN = "written"
SECONDS_PER_DOCUMENT = 1.0  # the longest a run's stop waits for Tiled, per document of the run


def replay_hint(spool: Path, uri: str) -> str:
    return f"mxsight replay {spool} --tiled {uri}"


def _private_folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


class _RunSpool:
    """One run: its spool file, and what became of its writing to Tiled."""

    def __init__(self, path: Path):
        self.path = path
        self.file = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a")
        self.failed: str | None = None
        self.written = threading.Event()  # Tiled has the whole run, or gave up on it
        self.writer = None
        self.documents = 0


class SpoolingWriter:
    """Spool each document to disk, then write it to Tiled with ``make_writer()`` (one writer per run,
    e.g. :class:`mxsight.storage.tiled.SummarisingWriter`) from a background thread.

    ``uri`` names Tiled in messages (never with a key); ``stall_s`` is how long the stop of a run waits
    for a Tiled that has stopped answering (never more than ``SECONDS_PER_DOCUMENT`` per document);
    ``say`` prints the one line a user sees when a run is kept for replay (default: standard error)."""

    def __init__(self, make_writer: Callable[[], Callable[[str, dict], None]], spool: Path | str, *, uri: str, stall_s: float = 10.0, say: Callable[[str], None] | None = None):
        self.make_writer = make_writer
        self.spool = _private_folder(Path(spool))
        _private_folder(self.spool / WRITTEN)
        self.uri = uri
        self.stall_s = float(stall_s)
        self.say = say or (lambda line: print(line, file=sys.stderr, flush=True))
        self._runs: dict[str, _RunSpool] = {}
        self._run_of: dict[str, str] = {}  # descriptor / resource uid -> start uid
        self._queue: queue.Queue = queue.Queue()
        self._busy_since: float | None = None
        threading.Thread(target=self._work, name="tiled-spool-writer", daemon=True).start()

    def __call__(self, name: str, doc: dict) -> None:
        run_uid = self._run_uid(name, doc)
        if name == "start":
            self._runs[run_uid] = _RunSpool(self.spool / f"{run_uid}.jsonl")
        run = self._runs.get(run_uid)
        if run is None:
            logger.warning("a %s document of a run that never started here (%s) is not recorded", name, run_uid)
            return
        run.file.write(json.dumps({"name": name, "doc": doc}) + "\n")
        run.file.flush()
        run.documents += 1
        if name == "stop":
            os.fsync(run.file.fileno())
            run.file.close()
        self._queue.put((run_uid, name, doc))
        if name == "stop":
            self._wait_for(run_uid, run)

    def _run_uid(self, name: str, doc: dict) -> str:
        if name == "start":
            return doc["uid"]
        if name in ("descriptor", "resource", "stream_resource"):
            self._run_of[doc["uid"]] = doc["run_start"]
            return doc["run_start"]
        if name == "stop":
            return doc["run_start"]
        if name in ("event", "event_page", "stream_datum"):
            return self._run_of.get(doc["descriptor"], "")
        if name in ("datum", "datum_page"):
            return self._run_of.get(doc["resource"], "")
        return ""

    def _wait_for(self, run_uid: str, run: _RunSpool) -> None:
        """At a run's stop: wait while Tiled makes progress, so a run that ended can be queried; at
        most ``SECONDS_PER_DOCUMENT`` per document of the run (or per document still to write, earlier
        runs' included, when those are more)."""
        waiting_for = self._queue.unfinished_tasks  # this run's documents not yet written, and earlier runs'
        budget_s = SECONDS_PER_DOCUMENT * max(run.documents, waiting_for)
        deadline = time.monotonic() + budget_s
        while not run.written.wait(timeout=0.05):
            busy_since = self._busy_since
            if busy_since is not None and time.monotonic() - busy_since > self.stall_s:
                self.say(f"Tiled at {self.uri} has not answered for {self.stall_s:g} s: run {run_uid} kept in {self.spool}; if it does not arrive, replay with: {replay_hint(self.spool, self.uri)}")
                return
            if time.monotonic() > deadline:
                self.say(f"Tiled at {self.uri} is slow: run {run_uid} not written after {budget_s:g} s, still being sent "
                         f"from {self.spool}; if it is not there once this session ends, replay with: {replay_hint(self.spool, self.uri)}")
                return
        if run.failed:
            self.say(f"Tiled at {self.uri} unreachable ({run.failed}): run {run_uid} kept in {self.spool}, replay with: {replay_hint(self.spool, self.uri)}")

    def _work(self) -> None:
        while True:
            run_uid, name, doc = self._queue.get()
            run = self._runs[run_uid]
            if run.failed is None:
                self._busy_since = time.monotonic()
                try:
                    if run.writer is None:
                        run.writer = self.make_writer()
                    run.writer(name, doc)
                except Exception as error:  # the run is on disk: keep it for replay
                    run.failed = error_line(error)
                    logger.warning("writing run %s to Tiled failed: %s", run_uid, run.failed, exc_info=True)
                finally:
                    self._busy_since = None
            if name == "stop":
                if run.failed is None:
                    run.path.rename(self.spool / WRITTEN / run.path.name)
                self._runs.pop(run_uid, None)
                run.written.set()
            self._queue.task_done()

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every queued document has been handled; True if that happened in ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


def error_line(error: BaseException) -> str:
    """An error as one short line: its type and the first line of its message."""
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}"[:200]
