"""Send runs kept in a spool folder (:mod:`mxsight.storage.spool`) to Tiled, once it is back.

``mxsight replay DIR --tiled URI`` reads each pending ``<start uid>.jsonl`` of ``DIR`` and writes it
through the same writer the RunEngine uses. Replaying is idempotent: a run Tiled already holds whole
is only moved to ``written/``; a run Tiled holds in part (its writing broke off) is deleted there and
written again from the spool, so a run is never in Tiled twice or half. A spool without a stop
document (the process died mid-run) is reported and left alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mxsight.storage.run_metadata import write_summary
from mxsight.storage.run_summary import RunSummary
from mxsight.storage.spool import WRITTEN, error_line


@dataclass(frozen=True)
class Replayed:
    uid: str
    outcome: str  # "written", "already in Tiled" (and "; summary added"), "incomplete: no stop document", or the error


def spooled_documents(path: Path) -> Iterator[tuple[str, dict]]:
    """The documents of one spool file, in order; a last line cut short by a crash is skipped."""
    with open(path) as lines:
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if lines.readline():  # only the very last line may be cut short
                    raise ValueError(f"{path}: line {number} is not a JSON document") from None
                return
            yield record["name"], record["doc"]


def pending(spool: Path | str) -> list[Path]:
    """Spool files not yet in Tiled, oldest first."""
    spool = Path(spool)
    if not spool.is_dir():
        raise FileNotFoundError(f"no spool folder {spool}")
    return sorted(spool.glob("*.jsonl"), key=lambda path: path.stat().st_mtime)


def run_summary(documents: list[tuple[str, dict]]) -> dict:
    """The :class:`RunSummary` of one run's documents."""
    summary = RunSummary()
    for name, doc in documents:
        summary(name, doc)
    return summary.summary(documents[-1][1])


def replay(spool: Path | str, client, make_writer: Callable[[], Callable[[str, dict], None]]) -> list[Replayed]:
    """Write every pending run of ``spool`` to ``client``'s catalog with a fresh ``make_writer()`` each."""
    spool = Path(spool)
    done = []
    for path in pending(spool):
        documents = list(spooled_documents(path))
        uid = documents[0][1]["uid"] if documents and documents[0][0] == "start" else path.stem
        if not documents or documents[-1][0] != "stop":
            done.append(Replayed(uid, "incomplete: no stop document"))
            continue
        if uid in client:
            metadata = client[uid].metadata
            if metadata.get("stop"):
                if "summary" not in metadata:  # the run arrived whole but its summary did not
                    write_summary(client, uid, run_summary(documents))
                path.rename(spool / WRITTEN / path.name)
                done.append(Replayed(uid, "already in Tiled" if "summary" in metadata else "already in Tiled; summary added"))
                continue
            client.delete_contents([uid], recursive=True, external_only=False)  # a run cut short
        try:
            writer = make_writer()
            for name, doc in documents:
                writer(name, doc)
        except Exception as error:
            done.append(Replayed(uid, f"failed: {error_line(error)}"))
            continue
        (spool / WRITTEN).mkdir(exist_ok=True, mode=0o700)
        path.rename(spool / WRITTEN / path.name)
        done.append(Replayed(uid, "written"))
    return done
