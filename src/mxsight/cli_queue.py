"""``mxsight queue``: queued collections through bluesky-queueserver (see ``mxsight.queue``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def _queue_addresses(args: argparse.Namespace):
    from mxsight.queue import QueueAddresses

    return QueueAddresses(control=args.control, info=args.info, redis=args.redis)


def _queue_serve(args: argparse.Namespace) -> int:
    from mxsight.cli import find_profile_dir
    from mxsight.queue import serve

    if args.beamline is not None:
        from mxsight.beamline_file import read_beamline_file

        read_beamline_file(args.beamline)  # a bad file is one line here, not a worker that fails to open
    serve(args.profile_dir or find_profile_dir(), args.data_dir, _queue_addresses(args), args.beamline)
    return 0


def _queue_multi_orientation(args: argparse.Namespace) -> int:
    from mxsight.queue import collection_item, connect, queue_collections

    items = [
        collection_item(sample, args.orientations, puck=args.puck, images=args.images, range_deg=args.range_deg, mount=not args.no_mount)
        for sample in args.sample
    ]
    uids = queue_collections(connect(_queue_addresses(args)), items, start=args.start)
    for sample, uid in zip(args.sample, uids):
        print(f"queued {sample}: item {uid}")
    if args.start:
        print("queue started (a failed item fails alone; the queue goes on)")
    return 0


def _queue_status(args: argparse.Namespace) -> int:
    from mxsight.queue import connect, history_table

    api = connect(_queue_addresses(args))
    status = api.status()
    print(f"manager {status['manager_state']}, environment {'open' if status['worker_environment_exists'] else 'closed'}, {status['items_in_queue']} queued, {status['items_in_history']} finished")
    print(history_table(api, args.limit))
    return 0


def add_queue_commands(commands) -> None:
    from mxsight.queue import DEFAULT_CONTROL_ADDRESS, DEFAULT_INFO_ADDRESS, DEFAULT_REDIS_ADDRESS

    queue = commands.add_parser("queue", help="queued collections through bluesky-queueserver")
    verbs = queue.add_subparsers(dest="verb", required=True)
    serve = verbs.add_parser("serve", help="run the RE Manager on the mxsight profile (needs redis-server)")
    serve.add_argument("--profile-dir", type=Path, default=None, help="IPython profile folder (default: profile_collection here or above)")
    serve.add_argument("--data-dir", type=Path, default=Path("mxsight-data"), help="embedded Tiled directory (default ./mxsight-data)")
    serve.add_argument("--beamline", type=Path, default=None, help="beamline TOML file (default: the simulated beamline)")
    serve.set_defaults(handler=_queue_serve)
    collection = verbs.add_parser("multi-orientation", help="queue a multi_orientation_collection per sample")
    collection.add_argument("--sample", action="append", required=True, help="sample id (repeat for several)")
    collection.add_argument("--orientations", type=Path, required=True, help="TOML file of [[orientation]] kappa_deg, phi_deg")
    collection.add_argument("--puck", default=None, help="puck recorded with the runs")
    collection.add_argument("--images", type=int, default=6, help="detector images per orientation")
    collection.add_argument("--range-deg", type=float, default=30.0, help="rotation range per orientation")
    collection.add_argument("--no-mount", action="store_true", help="the sample is already mounted (no sample changer)")
    collection.add_argument("--start", action="store_true", help="open the environment if needed and start the queue")
    collection.set_defaults(handler=_queue_multi_orientation)
    status = verbs.add_parser("status", help="the manager's state and the last finished items")
    status.add_argument("--limit", type=int, default=20)
    status.set_defaults(handler=_queue_status)
    for parser in (serve, collection, status):
        parser.add_argument("--control", default=DEFAULT_CONTROL_ADDRESS, help=f"RE Manager control address (default {DEFAULT_CONTROL_ADDRESS})")
        parser.add_argument("--info", default=DEFAULT_INFO_ADDRESS, help=f"RE Manager info address (default {DEFAULT_INFO_ADDRESS})")
        parser.add_argument("--redis", default=DEFAULT_REDIS_ADDRESS, help=f"Redis address (default {DEFAULT_REDIS_ADDRESS})")
