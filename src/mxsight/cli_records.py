"""``mxsight runs``, ``mxsight review``, ``mxsight replay`` and ``mxsight dataset export``: the command line over a Tiled
catalog of recorded runs (an embedded one in ``--data-dir`` or a server at ``--tiled URI``)."""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path


@contextlib.contextmanager
def _catalog(args: argparse.Namespace, access: str = "read", metadata_only: bool = False):
    """The Tiled client of ``--tiled URI`` (API key from ``TILED_API_KEY`` or this host's keys file,
    for ``access`` "read" or "write"; ``metadata_only``: runs as plain containers) or of the
    embedded ``--data-dir`` (started here and stopped on leaving)."""
    if args.tiled:
        from mxsight.storage.tiled_client import connect

        yield connect(args.tiled, access=access, metadata_only=metadata_only)
        return
    from mxsight.storage.tiled import EmbeddedTiled

    if not args.data_dir.is_dir():
        raise SystemExit(f"mxsight: no Tiled data directory {args.data_dir}; pass --data-dir or --tiled URI")
    with EmbeddedTiled.start(args.data_dir) as tiled:
        yield tiled.client


def _query(catalog, args: argparse.Namespace, plan_name: str | None):
    from mxsight.storage.queries import find_alignments

    return find_alignments(
        catalog,
        sample_id=args.sample,
        puck=args.puck,
        since=args.since,
        until=args.until,
        outcome=args.outcome,
        crystal_found={"yes": True, "no": False, None: None}[args.crystal],
        model_version=args.model_version,
        plan_name=plan_name,
    )


def _runs(args: argparse.Namespace) -> int:
    from mxsight.storage.queries import alignments_table

    with _catalog(args, metadata_only=True) as catalog:
        print(alignments_table(_query(catalog, args, None if args.all_plans else "auto_centre"), limit=args.limit))
    return 0


def _review(args: argparse.Namespace) -> int:
    from mxsight.storage.queries import find_run
    from mxsight.storage.review import review_run

    frames = [int(f) for f in args.frames.split(",")] if args.frames else None
    with _catalog(args, access="write") as catalog:
        review = review_run(find_run(catalog, args.uid), args.verdict, frames=frames, reviewer=args.reviewer, note=args.note)
    print(f"run {args.uid}: {review['verdict']}" + (f" (frames {review['frames']})" if review["frames"] is not None else ""))
    return 0


def _dataset_export(args: argparse.Namespace) -> int:
    from mxsight.training.export import export_runs

    with _catalog(args) as catalog:
        report = export_runs(_query(catalog, args, args.plan).values(), args.out)
    print(report.summary())
    print(f"written: {args.out / 'labelled'} and {args.out / 'to_label'}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from mxsight.storage.replay import replay
    from mxsight.storage.tiled import SummarisingWriter

    spool = args.spool or args.data_dir / "spool"
    with _catalog(args, access="write") as catalog:
        results = replay(spool, catalog, lambda: SummarisingWriter(catalog))
    for result in results:
        print(f"run {result.uid}: {result.outcome}")
    if not results:
        print(f"nothing to replay in {spool}")
    return 1 if any(r.outcome.startswith("failed") for r in results) else 0


def _add_catalog_arguments(parser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data-dir", type=Path, default=Path("mxsight-data"), help="embedded Tiled directory (default ./mxsight-data)")
    source.add_argument("--tiled", default=None, metavar="URI", help="a Tiled server instead (key from TILED_API_KEY or the keys file of mxsight tiled serve)")


def _add_query_arguments(runs) -> None:
    _add_catalog_arguments(runs)
    runs.add_argument("--sample", default=None, help="sample id")
    runs.add_argument("--puck", default=None, help="puck recorded in the start document")
    runs.add_argument("--since", default=None, help="ISO date or time, local (2026-11-24 or '2026-11-24 10:00')")
    runs.add_argument("--until", default=None, help="ISO date or time, local")
    runs.add_argument("--outcome", default=None, help="success or a failure name (SampleNotFound, FitNotConfident...)")
    runs.add_argument("--crystal", choices=("yes", "no"), default=None, help="only runs that centred a crystal (yes) or did not (no)")
    runs.add_argument("--model-version", default=None, help="segmentation network version")


def add_records_commands(commands) -> None:
    """``runs`` and ``review``."""
    runs = commands.add_parser("runs", help="recent alignments as a table (newest first), filtered like mxsight.storage.queries")
    _add_query_arguments(runs)
    runs.add_argument("--all-plans", action="store_true", help="every plan's runs, not only auto_centre")
    runs.add_argument("--limit", type=int, default=20, help="most recent N (default 20)")
    runs.set_defaults(handler=_runs)
    review = commands.add_parser("review", help="record an operator's verdict on a run's predictions (accepted or wrong)")
    review.add_argument("uid", help="run uid (or its first characters)")
    review.add_argument("verdict", choices=("accepted", "wrong"))
    review.add_argument("--frames", default=None, help="comma-separated prediction indices (default: all)")
    review.add_argument("--note", default="")
    review.add_argument("--reviewer", default=os.environ.get("USER", ""))
    _add_catalog_arguments(review)
    review.set_defaults(handler=_review)
    replay = commands.add_parser("replay", help="send runs kept on disk while Tiled was unreachable (a spool folder) to Tiled")
    replay.add_argument("spool", nargs="?", type=Path, default=None, help="the spool folder (default: <data-dir>/spool)")
    _add_catalog_arguments(replay)
    replay.set_defaults(handler=_replay)


def add_export_command(verbs) -> None:
    """``dataset export``, under ``mxsight dataset``."""
    export = verbs.add_parser("export", help="recorded runs -> labelled/ and to_label/ datasets (the retraining loop)")
    _add_query_arguments(export)
    export.add_argument("--plan", default=None, help="only this plan's runs (default: every plan)")
    export.add_argument("--out", type=Path, required=True, help="new folder for labelled/ and to_label/")
    export.set_defaults(handler=_dataset_export)
