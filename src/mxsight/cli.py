"""The ``mxsight`` command line."""

from __future__ import annotations

import sqlite3  # noqa: F401  (before TensorFlow, see mxsight/__init__)

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path


def _demo(args: argparse.Namespace) -> int:
    from bluesky import RunEngine

    from mxsight.devices.sim import make_sim_beamline
    from mxsight.plans.auto_centre import auto_centre
    from mxsight.plans.errors import AlignmentError
    from mxsight.report import write_report
    from mxsight.storage.tiled import EmbeddedTiled

    tiled = EmbeddedTiled.start(args.data_dir)
    try:
        RE = RunEngine({}, call_returns_result=True)
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
        print(f"tiled:     {tiled.uri}   (data in {tiled.directory})")
        print(f"run uid:   {uid}")
        print(
            f"read back: {sys.executable} -c \"from mxsight.storage.tiled import EmbeddedTiled; "
            f"t = EmbeddedTiled.start('{args.data_dir}'); print(t.client['{uid}']['primary']['oav_image'].shape); t.close()\""
        )
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


def _dataset_render(args: argparse.Namespace) -> int:
    from mxsight.training.simulated import render_dataset

    render_dataset(args.n, args.out, args.seed, workers=args.workers)
    print(f"wrote {args.n} labelled images to {args.out}")
    return 0


def _dataset_import_labelme(args: argparse.Namespace) -> int:
    from mxsight.training.labelme import import_labelme

    report = import_labelme(args.source, args.out)
    print(report.summary())
    return 1 if report.errors else 0


def _dataset_show(args: argparse.Namespace) -> int:
    from mxsight.training.contact_sheet import contact_sheet

    print(f"contact sheet: {contact_sheet(args.dataset, args.out, count=args.count)}")
    return 0


def _add_dataset_commands(commands) -> None:
    dataset = commands.add_parser("dataset", help="labelled image datasets: render, import, show")
    verbs = dataset.add_subparsers(dest="verb", required=True)
    render = verbs.add_parser("render", help="render simulated labelled images")
    render.add_argument("--n", type=int, required=True, help="number of images")
    render.add_argument("--out", type=Path, required=True, help="new dataset directory")
    render.add_argument("--seed", type=int, default=0, help="dataset seed (same seed, same images)")
    render.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    render.set_defaults(handler=_dataset_render)
    labelme = verbs.add_parser("import-labelme", help="convert labelme JSON files into a dataset")
    labelme.add_argument("source", type=Path, help="directory searched for *.json")
    labelme.add_argument("--out", type=Path, required=True, help="new dataset directory")
    labelme.set_defaults(handler=_dataset_import_labelme)
    show = verbs.add_parser("show", help="contact sheet of images with their masks")
    show.add_argument("dataset", type=Path)
    show.add_argument("--out", type=Path, default=Path("sheet.png"))
    show.add_argument("--count", type=int, default=12)
    show.set_defaults(handler=_dataset_show)
    export = verbs.add_parser("export", help="recorded runs -> labelled/ and to_label/ datasets (the retraining loop)")
    _add_query_arguments(export)
    export.add_argument("--plan", default=None, help="only this plan's runs (default: every plan)")
    export.add_argument("--out", type=Path, required=True, help="new folder for labelled/ and to_label/")
    export.set_defaults(handler=_dataset_export)


def _train(args: argparse.Namespace) -> int:
    import dataclasses

    from mxsight.training.train import TrainingConfig, train

    if args.config is not None:
        config = TrainingConfig.from_file(args.config)
    elif args.resume is None or not args.data or not args.validation or args.out is None:
        raise SystemExit("mxsight train: give --config FILE, or --resume MODEL with --data, --validation and --out")
    else:
        config = TrainingConfig(train=(), validation=(), out="", model=None)
    given = {
        "initial_model": str(args.resume) if args.resume else None,
        "train": tuple(str(d) for d in args.data) if args.data else None,
        "validation": tuple(str(d) for d in args.validation) if args.validation else None,
        "out": str(args.out) if args.out else None,
        "epochs": args.epochs,
        "steps_per_epoch": args.steps_per_epoch,
        "learning_rate": args.learning_rate,
        "batch_size": args.batch_size,
        "image_shape": tuple(args.image_shape) if args.image_shape else None,
    }
    overrides: dict[str, object] = {key: value for key, value in given.items() if value is not None}
    if args.resume is not None:
        overrides["model"] = None  # fine-tune the saved model as it is, in its own architecture
    config = dataclasses.replace(config, **overrides)
    best = train(config)
    print(f"best model: {best}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from mxsight.training.evaluate import evaluate_command

    print(evaluate_command(args.model, args.data, args.out, limit=args.limit, with_robustness=args.robustness, compare=args.compare))
    print(f"written: {args.out.with_suffix('.md')} and {args.out.with_suffix('.json')}")
    return 0


@contextlib.contextmanager
def _catalog(args: argparse.Namespace):
    """The Tiled client of ``--tiled URI`` (API key in the URI or from ``TILED_API_KEY``) or of the
    embedded ``--data-dir`` (started here and stopped on leaving)."""
    if args.tiled:
        from tiled.client import from_uri

        api_key = None if "api_key=" in args.tiled else os.environ.get("TILED_API_KEY")
        yield from_uri(args.tiled, api_key=api_key)
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

    with _catalog(args) as catalog:
        print(alignments_table(_query(catalog, args, None if args.all_plans else "auto_centre"), limit=args.limit))
    return 0


def _review(args: argparse.Namespace) -> int:
    from mxsight.storage.queries import find_run
    from mxsight.storage.review import review_run

    frames = [int(f) for f in args.frames.split(",")] if args.frames else None
    with _catalog(args) as catalog:
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


def _promote(args: argparse.Namespace) -> int:
    from mxsight.training.promote import promote
    from mxsight.vision.network_segmenter import MODELS_DIR_VARIABLE

    models_dir = args.models_dir or (Path(os.environ[MODELS_DIR_VARIABLE]) if os.environ.get(MODELS_DIR_VARIABLE) else None)
    if models_dir is None:
        raise SystemExit(f"mxsight model promote: give --models-dir or set {MODELS_DIR_VARIABLE} (the site's models folder)")
    card = promote(args.model, args.evaluation, models_dir, version=args.version, force=args.force)
    print(f"promoted {args.model} -> {card.with_suffix('.keras')} (card {card}); Segmenter.default() reads it when {MODELS_DIR_VARIABLE}={models_dir}")
    return 0


def _add_catalog_arguments(parser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data-dir", type=Path, default=Path("mxsight-data"), help="embedded Tiled directory (default ./mxsight-data)")
    source.add_argument("--tiled", default=None, metavar="URI", help="a Tiled server instead (API key in the URI or TILED_API_KEY)")


def _add_query_arguments(runs) -> None:
    _add_catalog_arguments(runs)
    runs.add_argument("--sample", default=None, help="sample id")
    runs.add_argument("--puck", default=None, help="puck recorded in the start document")
    runs.add_argument("--since", default=None, help="ISO date or time, local (2026-11-24 or '2026-11-24 10:00')")
    runs.add_argument("--until", default=None, help="ISO date or time, local")
    runs.add_argument("--outcome", default=None, help="success or a failure name (SampleNotFound, FitNotConfident...)")
    runs.add_argument("--crystal", choices=("yes", "no"), default=None, help="only runs that centred a crystal (yes) or did not (no)")
    runs.add_argument("--model-version", default=None, help="segmentation network version")



def _add_runs_command(commands) -> None:
    runs = commands.add_parser("runs", help="recent alignments as a table (newest first), filtered like mxsight.storage.queries")
    _add_query_arguments(runs)
    runs.add_argument("--all-plans", action="store_true", help="every plan's runs, not only auto_centre")
    runs.add_argument("--limit", type=int, default=20, help="most recent N (default 20)")
    runs.set_defaults(handler=_runs)


def _queue_addresses(args: argparse.Namespace):
    from mxsight.queue import QueueAddresses

    return QueueAddresses(control=args.control, info=args.info, redis=args.redis)


def _queue_serve(args: argparse.Namespace) -> int:
    from mxsight.queue import serve

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


def _add_queue_commands(commands) -> None:
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
    demo.add_argument("--data-dir", type=Path, default=Path("mxsight-data"), help="embedded Tiled directory (default ./mxsight-data)")
    demo.add_argument("--report", type=Path, default=Path("mxsight-report.png"), help="PNG report path")
    demo.add_argument("--realistic-motion", action="store_true", help="motors take real time to move")
    demo.set_defaults(handler=_demo)
    shell = commands.add_parser("shell", help="IPython with the beamline profile (RunEngine, Tiled, devices, plans, helpers)")
    shell.add_argument("--profile-dir", type=Path, default=None, help="IPython profile folder (default: profile_collection here or above)")
    shell.add_argument("--beamline", type=Path, default=None, help="beamline TOML file (default: the simulated beamline)")
    shell.epilog = "Other arguments go to IPython, e.g. mxsight shell -c \"RE(auto_centre(camera, gonio, zoom, sample_id='x'))\"."
    shell.set_defaults(handler=_shell)
    _add_runs_command(commands)
    _add_queue_commands(commands)
    _add_dataset_commands(commands)
    training = commands.add_parser("train", help="train the segmentation network (see mxsight.training.train for the config)")
    training.add_argument("--config", type=Path, default=None, help="TOML training config")
    training.add_argument("--resume", type=Path, default=None, help="fine-tune this saved model (its own architecture)")
    training.add_argument("--data", type=Path, nargs="+", default=None, help="training dataset directories (replace the config's)")
    training.add_argument("--validation", type=Path, nargs="+", default=None, help="validation dataset directories")
    training.add_argument("--out", type=Path, default=None, help="run directory (model.keras, history, learning curve)")
    training.add_argument("--epochs", type=int, default=None)
    training.add_argument("--steps-per-epoch", type=int, default=None)
    training.add_argument("--learning-rate", type=float, default=None)
    training.add_argument("--batch-size", type=int, default=None)
    training.add_argument("--image-shape", type=int, nargs=2, default=None, metavar=("ROWS", "COLS"))
    training.set_defaults(handler=_train)
    evaluation = commands.add_parser("evaluate", help="BIoU per notion and click error, beside the classical baseline")
    evaluation.add_argument("--model", required=True, help="a .keras model, 'default' (the shipped one) or 'classical'")
    evaluation.add_argument("--data", type=Path, required=True, help="dataset directory")
    evaluation.add_argument("--out", type=Path, default=Path("evaluation"), help="report path without suffix (.md and .json)")
    evaluation.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    evaluation.add_argument("--robustness", action="store_true", help="repeat under rotation, flip, zoom and illumination changes")
    evaluation.add_argument("--compare", default=None, help="another model on the same images, e.g. 'default' beside a fine-tuned one")
    evaluation.set_defaults(handler=_evaluate)
    model = commands.add_parser("model", help="manage the default model")
    model_verbs = model.add_subparsers(dest="verb", required=True)
    promote = model_verbs.add_parser("promote", help="make a model the default, recording its evaluation and the default's")
    promote.add_argument("model", type=Path, help="the .keras model to promote")
    promote.add_argument("--evaluation", type=Path, required=True, help="JSON of mxsight evaluate --model MODEL --compare default")
    promote.add_argument("--models-dir", type=Path, default=None, help="site models folder (default $MXSIGHT_MODELS_DIR)")
    promote.add_argument("--version", default=None, help="version of the promoted model (default: a time stamp)")
    promote.add_argument("--force", action="store_true", help="promote even if it scores below the current default")
    promote.set_defaults(handler=_promote)
    review = commands.add_parser("review", help="record an operator's verdict on a run's predictions (accepted or wrong)")
    review.add_argument("uid", help="run uid (or its first characters)")
    review.add_argument("verdict", choices=("accepted", "wrong"))
    review.add_argument("--frames", default=None, help="comma-separated prediction indices (default: all)")
    review.add_argument("--note", default="")
    review.add_argument("--reviewer", default=os.environ.get("USER", ""))
    _add_catalog_arguments(review)
    review.set_defaults(handler=_review)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "shell":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.ipython_args = extra
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
