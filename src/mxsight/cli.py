"""The ``mxsight`` command line."""

from __future__ import annotations

import sqlite3  # noqa: F401  (before TensorFlow, see mxsight/__init__)

import argparse
import os
import sys
import time
from pathlib import Path

from mxsight.cli_ioc import add_ioc_command
from mxsight.cli_queue import add_queue_commands
from mxsight.cli_records import add_export_command, add_records_commands
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


def _dataset_render(args: argparse.Namespace) -> int:
    from mxsight.training.simulated import REALISM_KNOBS, SceneMix, render_dataset

    realism = {knob: args.realism for knob in REALISM_KNOBS}
    mix = SceneMix(ice_probability=args.ice_probability, zoom_levels=tuple(args.zoom_levels) if args.zoom_levels else None, loop_windows=args.loop_windows, **realism)
    render_dataset(args.n, args.out, args.seed, workers=args.workers, mix=mix)
    print(f"wrote {args.n} labelled images to {args.out}")
    return 0


def _dataset_import_labelme(args: argparse.Namespace) -> int:
    from mxsight.training.labelme import import_labelme

    report = import_labelme(args.source, args.out)
    print(report.summary())
    return 1 if report.errors else 0


def _dataset_real_views(args: argparse.Namespace) -> int:
    from mxsight.training.real_views import write_real_training_views

    count = write_real_training_views(args.out, views_per_frame=args.views, seed=args.seed)
    print(f"wrote {count} views of the training split's real frames to {args.out}")
    return 0


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
    render.add_argument("--ice-probability", type=float, default=0.3, help="share of samples with ice blobs and bubbles; half of it: a crust on the rim, and a mesh loop")
    render.add_argument("--zoom-levels", type=int, nargs="+", default=None, help="zoom levels to draw views at (default: all)")
    render.add_argument("--loop-windows", action="store_true", help="render the window around the loop that the fine pass segments (at up to the camera's resolution), not the whole field")
    render.add_argument("--realism", type=float, default=0.0, metavar="P", help="probability of each look of other cameras (liquid drop, polished pin, lighting mode, overlays, another camera's empty field; default 0: the seed beamline's look)")
    render.set_defaults(handler=_dataset_render)
    labelme = verbs.add_parser("import-labelme", help="convert labelme JSON files into a dataset")
    labelme.add_argument("source", type=Path, help="directory searched for *.json")
    labelme.add_argument("--out", type=Path, required=True, help="new dataset directory")
    labelme.set_defaults(handler=_dataset_import_labelme)
    views = verbs.add_parser("real-views", help="views of the training split's real labelled frames (data/real/splits.toml)")
    views.add_argument("--out", type=Path, required=True, help="new dataset directory")
    views.add_argument("--views", type=int, default=40, help="views per frame: the whole frame, then windows around the sample")
    views.add_argument("--seed", type=int, default=0)
    views.set_defaults(handler=_dataset_real_views)
    show = verbs.add_parser("show", help="contact sheet of images with their masks")
    show.add_argument("dataset", type=Path)
    show.add_argument("--out", type=Path, default=Path("sheet.png"))
    show.add_argument("--count", type=int, default=12)
    show.set_defaults(handler=_dataset_show)
    add_export_command(verbs)


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

    if (args.data is None) == (args.real is None):
        raise ValueError("mxsight evaluate: give either --data DIR or --real SPLIT")
    if args.real is not None:
        return _evaluate_real(args)
    print(evaluate_command(args.model, args.data, args.out, limit=args.limit, with_robustness=args.robustness, compare=args.compare))
    print(f"written: {args.out.with_suffix('.md')} and {args.out.with_suffix('.json')}")
    return 0


def _evaluate_real(args: argparse.Namespace) -> int:
    from mxsight.training.evaluate import _identity, _network
    from mxsight.training.real_evaluation import CHECKED, real_evaluation_command
    from mxsight.vision.hybrid import CheckedSegmenter
    from mxsight.vision.segmenter import Segmenter

    segmenters = {} if args.model == "classical" else {"model": _network(args.model)}
    if args.compare is not None:
        segmenters["compare"] = _network(args.compare)
    segmenters["classical"] = Segmenter.classical()
    if "model" in segmenters:  # the model checked frame by frame, the classical baseline where it fails
        segmenters[CHECKED] = CheckedSegmenter(segmenters["model"], segmenters["classical"])
    evaluated = {name: _identity(path, segmenters[name]) for name, path in (("model", args.model), ("compare", args.compare)) if name in segmenters}
    print(real_evaluation_command(segmenters, args.real, args.out, evaluated=evaluated))
    print(f"written: {args.out.with_suffix('.md')} and {args.out.with_suffix('.json')}")
    return 0


def _promote(args: argparse.Namespace) -> int:
    from mxsight.training.promote import promote
    from mxsight.vision.model_files import MODELS_DIR_VARIABLE

    models_dir = args.models_dir or (Path(os.environ[MODELS_DIR_VARIABLE]) if os.environ.get(MODELS_DIR_VARIABLE) else None)
    if models_dir is None:
        raise SystemExit(f"mxsight model promote: give --models-dir or set {MODELS_DIR_VARIABLE} (the site's models folder)")
    card = promote(args.model, args.evaluation, models_dir, version=args.version, force=args.force, real_evaluation=args.real_evaluation)
    print(f"promoted {args.model} -> {card.with_suffix('.keras')} (card {card}); Segmenter.default() reads it when {MODELS_DIR_VARIABLE}={models_dir}")
    return 0


def _thresholds(args: argparse.Namespace) -> int:
    from mxsight.training.thresholds import calibrate_thresholds, markdown, write_thresholds
    from mxsight.vision.network_segmenter import NetworkSegmenter

    # The settings recorded beside the model now are ignored: calibrate from the plain 0.5 cut.
    segmenter = NetworkSegmenter.load(args.model, threshold=0.5, thresholds={})
    calibration = calibrate_thresholds(segmenter, args.data, limit=args.limit)
    print(markdown(calibration))
    if args.write:
        print(f"written into {write_thresholds(args.model, calibration, args.data)}")
    return 0


def _blend(args: argparse.Namespace) -> int:
    from mxsight.training.blend import blend_models

    out = blend_models(args.original, args.fine_tuned, args.weight, args.out)
    print(f"wrote {out}: {1 - args.weight:g} x {args.original} + {args.weight:g} x {args.fine_tuned}; "
          f"next: mxsight model thresholds {out} --data VALIDATION --write")
    return 0


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
    evaluation.add_argument("--data", type=Path, default=None, help="dataset directory")
    evaluation.add_argument("--real", choices=("evaluation", "training"), default=None,
                            help="instead of --data: the real frames and empty fields of this split (data/real/splits.toml), per frame")
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
    promote.add_argument("--real-evaluation", type=Path, default=None,
                         help="JSON of mxsight evaluate --model MODEL --compare default --real evaluation (required without --force)")
    promote.add_argument("--models-dir", type=Path, default=None, help="site models folder (default $MXSIGHT_MODELS_DIR)")
    promote.add_argument("--version", default=None, help="version of the promoted model (default: a time stamp)")
    promote.add_argument("--force", action="store_true", help="promote even if it scores below the current default or sees samples on more empty fields")
    promote.set_defaults(handler=_promote)
    thresholds = model_verbs.add_parser("thresholds", help="calibrate per-notion probability thresholds on validation images")
    thresholds.add_argument("model", type=Path, help="the .keras model (its settings file <stem>.json is updated with --write)")
    thresholds.add_argument("--data", type=Path, required=True, help="validation dataset directory (never the test set)")
    thresholds.add_argument("--limit", type=int, default=None, help="only the first N images")
    thresholds.add_argument("--write", action="store_true", help="record the thresholds beside the model")
    thresholds.set_defaults(handler=_thresholds)
    blend = model_verbs.add_parser("blend", help="average a fine-tuned network's weights with those of the network it started from")
    blend.add_argument("original", type=Path, help="the .keras model the fine-tune started from")
    blend.add_argument("fine_tuned", type=Path, help="the fine-tuned .keras model")
    blend.add_argument("--weight", type=float, required=True, help="0: the original, 1: the fine-tuned network (choose it on validation images)")
    blend.add_argument("--out", type=Path, required=True, help="the blended .keras model to write")
    blend.set_defaults(handler=_blend)
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
