"""``mxsight tiled serve``: a Tiled server for the beamline's records (see ``mxsight.storage.tiled_server``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def _serve(args: argparse.Namespace) -> int:
    from mxsight.storage.tiled_keys import create_keys, key_hint
    from mxsight.storage.tiled_server import serve

    keys = create_keys(args.keys)
    print(f"mxsight tiled serve: {key_hint(args.keys)} (write key for the RunEngine, read key for queries)", flush=True)
    serve(data_dir=args.data_dir, keys=keys, database=args.database, frames=args.frames, host=args.host, port=args.port, workers=args.workers)
    return 0  # not reached: serve() becomes the server


def add_tiled_command(commands) -> None:
    tiled = commands.add_parser("tiled", help="a Tiled server for the beamline's records")
    verbs = tiled.add_subparsers(dest="verb", required=True)
    serve = verbs.add_parser("serve", help="serve the catalog (PostgreSQL with --database, else SQLite in --data-dir) with a write and a read key")
    serve.add_argument("--database", default=None, metavar="postgresql://USER@HOST:PORT/NAME",
                       help="catalog on PostgreSQL (databases NAME, NAME_tables, NAME_authn; created if missing); default SQLite in DATA_DIR")
    serve.add_argument("--data-dir", type=Path, default=Path("mxsight-tiled"), help="server folder: array storage, logs, and frames it may read under DATA_DIR/frames")
    serve.add_argument("--frames", type=Path, action="append", default=None,
                       help="a folder of frames runs may reference (repeatable): the frames/ of each writer's data folder (default DATA_DIR/frames)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1 only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=4, help="uvicorn workers (PostgreSQL only; SQLite serves with one)")
    serve.add_argument("--keys", type=Path, default=None, help="keys file (default $MXSIGHT_TILED_KEYS or ~/.config/mxsight/tiled-keys.toml), made on first start")
    serve.set_defaults(handler=_serve)
