"""The ``mxsight`` commands of the segmentation network's life: labelled datasets (render, import,
real views, contact sheets), training, evaluation (simulated and real frames), and the default model
(promotion, thresholds, weight blending)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mxsight.cli_records import add_export_command


def add_model_commands(commands) -> None:
    """``mxsight dataset``, ``train``, ``evaluate`` and ``model``: the commands of the segmentation
    network's life (data, training, evaluation, promotion)."""
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
    evaluation.add_argument("--splits", type=Path, default=None,
                            help="with --real: a splits file naming your own labelled frames and empty fields (data/real/splits.toml's form)")
    evaluation.add_argument("--overlays", type=Path, default=None,
                            help="with --real: a folder for pictures of each frame's predictions beside its labels (the frames' licence applies)")
    evaluation.add_argument("--data-root", type=Path, default=None,
                            help="with --splits: the folder its paths are under (default: the splits file's folder)")
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


def _dataset_render(args: argparse.Namespace) -> int:
    from mxsight.training.simulated import REALISM_KNOBS, SceneMix, render_dataset

    realism = {knob: args.realism for knob in REALISM_KNOBS}
    if args.liquid is not None:
        realism["liquid_probability"] = args.liquid
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
    render.add_argument("--liquid", type=float, default=None, metavar="P", help="probability of a liquid drop in the loop (default: --realism's), e.g. 1 for a set of liquid-filled loops")
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
    from mxsight.training.evaluate import evaluate_command, report_paths

    if (args.data is None) == (args.real is None):
        raise ValueError("mxsight evaluate: give either --data DIR or --real SPLIT")
    if (args.splits or args.data_root) and args.real is None:
        raise ValueError("mxsight evaluate: --splits and --data-root go with --real SPLIT")
    if args.overlays and args.real is None:
        raise ValueError("mxsight evaluate: --overlays goes with --real SPLIT")
    if args.data_root and not args.splits:
        raise ValueError("mxsight evaluate: --data-root goes with --splits FILE (the project's splits are read under the shared data folder)")
    if args.splits and not args.splits.is_file():
        raise ValueError(f"mxsight evaluate: no splits file at {args.splits}")
    if args.real is not None:
        print(_evaluate_real(args))
    else:
        print(evaluate_command(args.model, args.data, args.out, limit=args.limit, with_robustness=args.robustness, compare=args.compare))
    print("written: {} and {}".format(*report_paths(args.out)))
    return 0


def _evaluate_real(args: argparse.Namespace) -> str:
    """The real-frames report's text (``mxsight evaluate --real``)."""
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
    own = {} if args.splits is None else {"splits_file": args.splits, "root": args.data_root or args.splits.parent}
    return real_evaluation_command(segmenters, args.real, args.out, evaluated=evaluated, overlays=args.overlays, **own)


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
