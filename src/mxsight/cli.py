"""The ``mxsight`` command line."""

from __future__ import annotations

import sqlite3  # noqa: F401  (before TensorFlow, see mxsight/__init__)

import argparse
import os
import sys
import time
from pathlib import Path

from mxsight.cli_ioc import add_ioc_command
from mxsight.cli_models import add_model_commands
from mxsight.cli_queue import add_queue_commands
from mxsight.cli_records import add_records_commands
from mxsight.cli_tiled import add_tiled_command


def _demo(args: argparse.Namespace) -> int:
    from bluesky import RunEngine

    from mxsight.devices.sim import make_sim_beamline
    from mxsight.plans.auto_centre import auto_centre
    from mxsight.plans.errors import AlignmentError
    from mxsight.report import write_report
    from mxsight.storage.tiled import EmbeddedTiled, RemoteTiled

    tiled = EmbeddedTiled.start(args.data_dir) if args.tiled is None else RemoteTiled.connect(args.tiled, args.data_dir)
    try:
        RE = RunEngine({"beamline": "simulated"}, call_returns_result=True)
        RE.subscribe(tiled.writer())
        beamline = make_sim_beamline(
            seed=args.seed,
            zoom_level=args.zoom,
            write_directory=tiled.frames_directory,
            realistic_motion=args.realistic_motion,
        )
        before = beamline.loop_centre_errors_um()
        sample_id = args.sample_id or f"sim-{args.seed}"
        started = time.perf_counter()
        failure = None
        try:
            result = RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id=sample_id))
            uid, outcome = result.run_start_uids[0], result.plan_result
        except AlignmentError as error:
            failure, uid, outcome = error, None, None
        seconds = time.perf_counter() - started
        after = beamline.target_errors_um(outcome.target if outcome is not None else "loop")
        if uid is None:
            from mxsight.storage.queries import find_alignments

            uid = list(find_alignments(tiled.client, sample_id=sample_id))[-1]
        run = tiled.client[uid]
        frames = int(run.metadata["stop"]["num_events"].get("primary", 0))
        _print_table(before, after, outcome, frames, seconds, failure)
        report = write_report(run, args.report)
        print(f"\nreport:    {report.resolve()}")
        print(f"tiled:     {tiled.address}   (data in {tiled.directory})")
        print(f"run uid:   {uid}")
        if args.tiled is None:
            print(
                f"read back: {sys.executable} -c \"from mxsight.storage.tiled import EmbeddedTiled; "
                f"t = EmbeddedTiled.start('{args.data_dir}'); print(t.client['{uid}']['primary']['oav_image'].shape); t.close()\""
            )
        else:
            print(f"read back: mxsight runs --tiled {tiled.address} --sample {sample_id}")
        return 1 if failure else 0
    finally:
        tiled.close()


def _print_table(before: dict, after: dict, outcome, frames: int, seconds: float, failure) -> None:
    found = "-" if outcome is None else _vector_um(outcome.total_move_mm)
    centred = "-" if outcome is None else ", ".join(f"{s.target} ({s.model})" for s in outcome.solutions)
    rows = [
        ("outcome", "success" if failure is None else str(failure)),
        ("centred target (model)", centred),
        ("true offset from axis (um)", f"{before['from_axis_um']:.1f}"),
        ("true offset along spindle (um)", f"{before['along_spindle_um']:.1f}"),
        ("found move cx, cy, ay (um)", found),
        ("residual from axis (um)", f"{after['from_axis_um']:.2f}"),
        ("residual along spindle (um)", f"{after['along_spindle_um']:.2f}"),
        ("residual from beam (um)", f"{after['from_beam_um']:.2f}"),
        ("frames", str(frames)),
        ("seconds", f"{seconds:.1f}"),
    ]
    width = max(len(name) for name, _ in rows)
    print("\nmxsight demo: auto_centre on the simulated beamline")
    print("-" * (width + 30))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def _vector_um(move_mm: dict[str, float]) -> str:
    return ", ".join(f"{1000 * move_mm[k]:.1f}" for k in ("centring_x", "centring_y", "alignment_y"))


def find_profile_dir(start: Path | None = None) -> Path:
    """``profile_collection`` in ``start`` (default: the working directory) or a folder above it, else
    the one beside this package's source checkout."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents, Path(__file__).resolve().parents[2]):
        candidate = folder / "profile_collection"
        if (candidate / "startup").is_dir():
            return candidate
    raise FileNotFoundError(f"no profile_collection/startup found in {start} or above; pass --profile-dir")


def _shell(args: argparse.Namespace) -> int:
    from IPython import start_ipython

    profile = args.profile_dir or find_profile_dir()
    if not (profile / "startup").is_dir():
        raise FileNotFoundError(f"{profile} has no startup/ folder of start-up files")
    if args.beamline is not None:
        from mxsight.beamline_file import read_beamline_file

        read_beamline_file(args.beamline)  # a bad file is one line here, not a traceback inside IPython
        os.environ["MXSIGHT_BEAMLINE"] = str(args.beamline.resolve())
    start_ipython(argv=[f"--profile-dir={profile}", *args.ipython_args])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mxsight", description="See and align MX samples with Bluesky.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="auto-centre a random sample on the simulated beamline, recorded in an embedded Tiled")
    demo.add_argument("--seed", type=int, default=0, help="seed of the random sample (default 0)")
    demo.add_argument("--zoom", type=int, default=5, help="zoom level 1-10 (default 5)")
    demo.add_argument("--sample-id", default=None, help="sample id recorded with the run (default sim-SEED)")
    demo.add_argument("--data-dir", type=Path, default=Path("mxsight-data"), help="data folder: embedded Tiled, frames, spool (default ./mxsight-data)")
    demo.add_argument("--tiled", default=None, metavar="URI", help="write to this Tiled server (key from TILED_API_KEY) instead of an embedded one; it must be able to read DATA_DIR/frames")
    demo.add_argument("--report", type=Path, default=Path("mxsight-report.png"), help="PNG report path")
    demo.add_argument("--realistic-motion", action="store_true", help="motors take real time to move")
    demo.set_defaults(handler=_demo)
    shell = commands.add_parser("shell", help="IPython with the beamline profile (RunEngine, Tiled, devices, plans, helpers)")
    shell.add_argument("--profile-dir", type=Path, default=None, help="IPython profile folder (default: profile_collection here or above)")
    shell.add_argument("--beamline", type=Path, default=None, help="beamline TOML file (default: the simulated beamline)")
    shell.epilog = "Other arguments go to IPython, e.g. mxsight shell -c \"RE(auto_centre(camera, gonio, zoom, sample_id='x'))\"."
    shell.set_defaults(handler=_shell)
    add_records_commands(commands)
    add_queue_commands(commands)
    add_ioc_command(commands)
    add_tiled_command(commands)
    add_model_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "shell":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.ipython_args = extra
    return args.handler(args)


TRACEBACK_VARIABLE = "MXSIGHT_TRACEBACK"


def console_main(argv: list[str] | None = None) -> int:
    """The ``mxsight`` console script: :func:`main`, with expected failures (a missing or bad file, a
    wrong setting, an unknown run, an unreachable or refusing Tiled: ``ValueError``, ``OSError``,
    ``LookupError``, ``httpx.HTTPError``) reported as one line on stderr and exit status 2 rather
    than a traceback; ``MXSIGHT_TRACEBACK=1`` shows the traceback. ``main`` itself raises, for
    callers and tests that want the exception."""
    import httpx

    try:
        return main(argv)
    except (ValueError, OSError, LookupError, httpx.HTTPError) as error:
        if os.environ.get(TRACEBACK_VARIABLE, "") not in ("", "0"):
            raise
        print(f"mxsight: error: {_one_line(error)}", file=sys.stderr)
        return 2


def _one_line(error: BaseException) -> str:
    """The error's message on one line (a ``KeyError``'s without the quotes of its repr)."""
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    return " ".join(text.split()) or type(error).__name__


if __name__ == "__main__":
    sys.exit(console_main())
