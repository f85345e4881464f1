"""Centring benchmark: seeded simulated samples -> success rate, residual error, frames and compute time
for (a) the circle model, (b) the refraction-aware slab model, (c) a 3-click operator baseline.

    python benchmarks/centring.py --samples 500 [--segmenter default|truth] [--sweeps coarse-if-needed|coarse-then-fine]
                                  [--first-seed 1000 | --seeds S [S ...]] [--out FILE] [--keep-frames] [--fine-frames N] [--model FILE]
    python benchmarks/centring.py --realistic-motion --samples 20 --first-seed 6000   (timing: benchmarks/alignment_time.py)
    python benchmarks/centring.py --epics --samples 100 --first-seed 8000 [--hdf5-plugin]  (over Channel Access: benchmarks/epics_centring.py)

Samples are drawn with random loop sizes and offsets, refraction on (film index 1.31-1.34, crystals at
any depth in the film), ice and bubbles on a third of them, dust on the lens, both spindle orientations
(even seeds horizontal, odd vertical) and fine zoom levels 5-7 (1.8-1.08 um/px). Each sample runs the
real ``auto_centre`` plan once (its default sweeps: the coarse sweep at zoom 1 only where the loop
would leave the fine view, then a fine sweep of 12 frames; with ``--sweeps coarse-then-fine`` the
coarse sweep every time; the plan's own model choice is "auto"). Its fine sweep's features are then fitted with the circle and with the slab model
(forced), and the truth error of the target (the crystal when the plan chose it, else the loop centre)
is evaluated for the move each would make from the same starting positions. The 3-click baseline clicks
the target's true apparent position (refraction included, as an operator sees it) at 0, 90 and 180
degrees with 2 px of Gaussian noise. "circle forced" is the circle's move taken past its confidence
limits, to show how far off it would centre where it refuses. Success: a confident fit whose move leaves the target within
``SUCCESS_RADIUS_UM`` of the beam. A refused alignment's fine sweep is fitted all the same (the plan's
error carries its outcome), its target being the loop the plan fell back to; each record's
``fine_fit`` gives, per target, the plan's model fitted past every confidence limit, with its
residual, inlier share, move uncertainty and truth error: what ``ConfidenceLimits`` is calibrated on. "Compute" is the plan's wall time minus the simulated camera's
rendering, which a real camera does not cost; ``--segmenter truth`` uses the simulator's exact masks to
measure the geometry alone. ``--keep-frames`` adds to each record the fine sweep's per-frame features
(``fine_frames``: each ``FrameFeatures`` as a dict), to study per-frame errors offline. ``--model``
runs a candidate network (a training checkpoint) in place of the shipped one, with the inference
settings recorded beside it, else the shipped model's (its thresholds), and used as the shipped card
says the default segmenter uses its network (checked, with the classical fallback), so checkpoints
are compared on the alignments themselves before one is promoted. ``--seeds`` runs a chosen subset (the seeds of
crusted loops, say) instead of a range; the tables add the crusted loops (an ice crust on the rim) on
their own, the samples the network's loop is least to be trusted on.
"""

from __future__ import annotations

import sqlite3  # noqa: F401  (before TensorFlow)

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bluesky import RunEngine

from mxsight.devices.sim import make_sim_beamline
from mxsight.geometry.centring import CentringGeometry, centring_move
from mxsight.geometry.circle import circle_through_points
from mxsight.plans.auto_centre import auto_centre
from mxsight.plans.centring_solution import loop_edge_medians, solve_centring
from mxsight.plans.confidence_limits import ConfidenceLimits
from mxsight.plans.errors import AlignmentError
from mxsight.plans.sweeps import COARSE_IF_NEEDED_THEN_FINE, COARSE_THEN_FINE
from mxsight.sim.render import Optics
from mxsight.sim.scene import random_sample
from mxsight.vision.model_files import SHIPPED_MODEL, default_segmenter_kind, model_settings, models_directory
from mxsight.vision.network_segmenter import NetworkSegmenter
from mxsight.vision.hybrid import CheckedSegmenter
from mxsight.vision.segmenter import Segmenter

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from truth import TruthSegmenter  # noqa: E402

SUCCESS_RADIUS_UM = 10.0
CLICK_NOISE_PX = 2.0
MOTORS = ("centring_x", "centring_y", "alignment_y")
METHODS = ("plan (auto)", "circle", "slab", "3-click", "circle forced")
FORCED = ConfidenceLimits(min_inlier_fraction=0.0, max_residual_rms_um=1e9, max_move_sigma_um=1e9, max_crystal_move_sigma_um=1e9, max_loop_edge_on_ice=float("inf"), min_along_agreement=0.0)


def _errors_after(beamline, start: dict[str, float], move: dict[str, float], target: str) -> float:
    """Truth error (um from the beam) of ``target`` if ``move`` were applied from ``start``."""
    goniometer = beamline.goniometer
    now = {name: getattr(goniometer, name).position for name in MOTORS}
    for name in MOTORS:
        getattr(goniometer, name).set(start[name] + move[f"{name}_mm"])
    error = beamline.target_errors_um(target)
    for name in MOTORS:
        getattr(goniometer, name).set(now[name])
    return float(np.hypot(error["from_axis_um"], error["along_spindle_um"]))


def _three_clicks(beamline, start: dict[str, float], target: str, geometry: CentringGeometry, rng) -> float:
    goniometer, camera = beamline.goniometer, beamline.camera
    now = {name: getattr(goniometer, name).position for name in (*MOTORS, "omega")}
    for name in MOTORS:
        getattr(goniometer, name).set(start[name])
    points = []
    for omega in (0.0, 90.0, 180.0):
        goniometer.omega.set(omega)
        camera.acquire_frame()
        render = camera.last_render
        point = render.click_px if target == "crystal" else render.loop_centre_px
        points.append(np.asarray(point) + rng.normal(0.0, CLICK_NOISE_PX, 2))
    for name, value in now.items():
        getattr(goniometer, name).set(value)
    perpendicular, along = geometry.split(tuple(np.array(points).T))
    fit = circle_through_points(np.array([0.0, 90.0, 180.0]), perpendicular, sigma=CLICK_NOISE_PX)
    level = beamline.zoom.current
    move = centring_move(fit, float(np.mean(along)), CLICK_NOISE_PX, level.beam_position_px, level.pixel_size_um, geometry)
    return _errors_after(beamline, start, move.as_dict(), target)


SWEEPS = {"coarse-if-needed": COARSE_IF_NEEDED_THEN_FINE, "coarse-then-fine": COARSE_THEN_FINE}


# failures that leave no fine sweep to fit: the target's frames are off screen, absent or not trusted
NOT_FITTABLE = ("SampleOffScreen", "SampleNotFound", "FrameUnusable", "SegmentationNotTrusted")


def one_sample(seed: int, segmenter_name: str, network, directory: str, RE, sweeps=COARSE_IF_NEEDED_THEN_FINE, keep_frames: bool = False) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    spindle = "horizontal" if seed % 2 == 0 else "vertical"
    zoom_level = int(rng.choice([5, 6, 7]))
    sample = random_sample(seed, crystal_anywhere_in_film=True, ice_probability=0.3)
    beamline = make_sim_beamline(sample=sample, zoom_level=zoom_level, write_directory=directory, spindle=spindle, seed=seed)
    beamline.camera.optics = Optics(dust_specks=int(rng.integers(0, 6)))
    geometry = CentringGeometry(spindle=spindle)
    segmenter = TruthSegmenter(beamline.camera) if segmenter_name == "truth" else for_spindle(network, spindle)
    render_seconds: list[float] = []
    acquire = beamline.camera.acquire_frame

    def timed_acquire():
        started = time.perf_counter()
        frame = acquire()
        render_seconds.append(time.perf_counter() - started)
        return frame

    beamline.camera.acquire_frame = timed_acquire
    record: dict[str, object] = {"seed": seed, "spindle": spindle, "zoom": zoom_level, "crystal": sample.crystal is not None, "crust": sample.ice_ring_arc_deg is not None}
    started = time.perf_counter()
    outcome, failure = None, ""
    try:
        outcome = RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id=f"bench-{seed}", sweeps=sweeps, segmenter=segmenter, geometry=geometry)).plan_result
    except AlignmentError as error:
        failure = type(error).__name__
        outcome = error.outcome
    record["compute_s"] = time.perf_counter() - started - sum(render_seconds)
    record["frames"] = len(render_seconds)
    record["coarse_sweep"] = outcome is not None and 0 in outcome.passes
    beamline.camera.acquire_frame = acquire
    if outcome is None or not outcome.passes or outcome.passes[-1] != len(sweeps) - 1 or failure in NOT_FITTABLE:
        record.update({method: {"ok": False, "error_um": float("nan"), "failure": failure or "no fine sweep"} for method in METHODS})
        return record
    final = {name: getattr(beamline.goniometer, name).position for name in MOTORS}
    features = outcome.sweep_features[-1]
    if keep_frames:
        record["fine_frames"] = [dataclasses.asdict(f) for f in features]
    if failure:
        start = final  # the fine sweep moved nothing
        # an unconfident fit's last try was the loop (the plan falls back to it from the crystal); a
        # move refused by the limits was of the target the plan chose
        target = "loop" if failure == "FitNotConfident" else solve_centring(features, beamline.zoom.current, geometry, FORCED).target
        record["plan (auto)"] = {"ok": False, "error_um": float("nan"), "failure": failure}
    else:
        fine = outcome.solutions[-1]
        target = fine.target
        record["model"] = fine.model
        start = {name: final[name] - fine.move.as_dict()[f"{name}_mm"] for name in MOTORS}
        record["plan (auto)"] = {"ok": True, "error_um": _errors_after(beamline, final, {f"{n}_mm": 0.0 for n in MOTORS}, target), "failure": ""}
    record["target"] = target
    record["pixel_size_um"] = beamline.zoom.current.pixel_size_um
    for model in ("circle", "slab"):
        try:
            solution = solve_centring(features, beamline.zoom.current, geometry, target=target, model=model)
            record[model] = {"ok": True, "error_um": _errors_after(beamline, start, solution.move.as_dict(), target), "failure": ""}
        except AlignmentError as error:
            record[model] = {"ok": False, "error_um": float("nan"), "failure": type(error).__name__}
    forced = solve_centring(features, beamline.zoom.current, geometry, FORCED, target=target, model="circle")
    record["circle forced"] = {"ok": True, "error_um": _errors_after(beamline, start, forced.move.as_dict(), target), "failure": ""}
    record["fine_fit"] = _unlimited_fits(beamline, features, geometry, start)
    record["3-click"] = {"ok": True, "error_um": _three_clicks(beamline, start, target, geometry, rng), "failure": ""}
    return record


def _unlimited_fits(beamline, features, geometry: CentringGeometry, start: dict[str, float]) -> dict[str, dict]:
    """Per target (loop, and crystal where seen), the plan's own model choice fitted past every
    confidence limit: its residual, inlier share, move uncertainty, share of the frames it is seen in and
    share agreeing along the spindle (for the loop, also the medians of its outline's shares on ice and along the ice's edge),
    beside the truth error of its move, to calibrate the limits on (``ConfidenceLimits``)."""
    fits = {}
    for target in ("loop", "crystal"):
        try:
            fit = solve_centring(features, beamline.zoom.current, geometry, FORCED, target=target)
        except AlignmentError:
            continue
        fits[target] = {
            "model": fit.model,
            "residual_rms_px": fit.fit.residual_rms,
            "inlier_fraction": fit.fit.n_inliers / fit.n_target,
            "move_sigma_um": fit.move.max_sigma_um,
            "seen_fraction": fit.n_target / fit.n_present,
            "along_agreement": fit.along_agreement,
            "error_um": _errors_after(beamline, start, fit.move.as_dict(), target),
        }
        if target == "loop":
            on_ice, along_ice_edge = loop_edge_medians([f for f in features if f.present])
            fits[target].update(loop_edge_on_ice=on_ice, loop_edge_along_ice_edge=along_ice_edge)
    return fits


def summarise(records: list[dict], method: str, subset=lambda r: True) -> dict[str, str]:
    chosen = [r for r in records if subset(r)]
    errors = np.array([r[method]["error_um"] for r in chosen], dtype=float)
    ok = np.array([r[method]["ok"] for r in chosen], dtype=bool) & (errors < SUCCESS_RADIUS_UM)
    good = errors[ok]
    return {
        "samples": str(len(chosen)),
        "success rate": f"{100 * ok.mean():.1f} %" if len(chosen) else "-",
        "residual median (um)": f"{np.median(good):.2f}" if good.size else "-",
        "residual 95th pct (um)": f"{np.percentile(good, 95):.2f}" if good.size else "-",
    }


def print_table(title: str, columns: dict[str, dict[str, str]]) -> None:
    names = list(columns)
    keys = list(next(iter(columns.values())))
    width = max(len(key) for key in keys)
    print(f"\n{title}")
    print(f"{'metric':<{width}}  " + "  ".join(f"{name:>12}" for name in names))
    for key in keys:
        print(f"{key:<{width}}  " + "  ".join(f"{columns[name][key]:>12}" for name in names))


def candidate_network(path: Path) -> NetworkSegmenter:
    """The network saved at ``path`` with its own inference settings, or the shipped model's where
    none are recorded beside it (a checkpoint): the same thresholds, refinement and tracking."""
    settings = model_settings(path) or {key: value for key, value in model_settings(models_directory() / SHIPPED_MODEL).items() if key != "version"}
    return NetworkSegmenter.load(path, **settings)


def as_the_default(network: NetworkSegmenter) -> Segmenter:
    """A candidate network used as the default would use it: checked frame by frame with the classical
    fallback when the shipped card's ``default_segmenter`` is "checked", alone otherwise; so a
    candidate and the shipped default are compared on the same plan."""
    return CheckedSegmenter(network, Segmenter.classical()) if default_segmenter_kind() == "checked" else network


def for_spindle(segmenter: Segmenter, spindle: str) -> Segmenter:
    """``segmenter`` for a camera whose spindle runs ``spindle``: a checked one's self-check and
    fallback are told the orientation."""
    if isinstance(segmenter, CheckedSegmenter):
        fallback = Segmenter.classical(background=segmenter.background, spindle=spindle)
        return CheckedSegmenter(segmenter.primary, fallback, background=segmenter.background, spindle=spindle, settings=segmenter.settings)
    return segmenter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", help="these seeds instead of --first-seed and --samples (a subset to rerun)")
    parser.add_argument("--segmenter", choices=("default", "truth"), default="default")
    parser.add_argument("--sweeps", choices=tuple(SWEEPS), default="coarse-if-needed", help="the plan's sweeps: the coarse one only if needed (the plan's default), or always coarse then fine")
    parser.add_argument("--out", type=Path, help="JSON file of per-sample records (appended to and resumed from)")
    parser.add_argument("--keep-frames", action="store_true", help="keep the fine sweep's per-frame features in each record")
    parser.add_argument("--fine-frames", type=int, help="frames of the fine sweep (default: the plan's, 12)")
    parser.add_argument("--model", type=Path, help="a .keras network to use instead of the shipped one (with --segmenter default)")
    parser.add_argument("--hdf5-plugin", action="store_true",
                        help="with --epics: the camera's frames are written by the IOC's HDF5 plugin ([epics] hdf5_plugin)")
    parser.add_argument("--epics", action="store_true",
                        help="instead: the same seeds over EPICS Channel Access (mxsight ioc) and in process (benchmarks/epics_centring.py)")
    parser.add_argument("--realistic-motion", action="store_true",
                        help="instead: wall time per alignment with motors, zoom and camera taking real time, stepped against continuous sweeps (benchmarks/alignment_time.py)")
    args = parser.parse_args()
    sweeps = SWEEPS[args.sweeps]
    if args.fine_frames is not None:
        sweeps = (*sweeps[:-1], dataclasses.replace(sweeps[-1], frames=args.fine_frames))
    records: list[dict] = json.loads(args.out.read_text()) if args.out and args.out.exists() else []
    done = {r["seed"] for r in records}
    if args.model is not None and args.segmenter != "default":
        parser.error("--model replaces the shipped network: use it with --segmenter default")
    network = None if args.segmenter != "default" else as_the_default(candidate_network(args.model)) if args.model else Segmenter.default()
    RE = RunEngine({}, call_returns_result=True)
    seeds = args.seeds or list(range(args.first_seed, args.first_seed + args.samples))
    if args.epics:
        import epics_centring

        if network is None:
            parser.error("--epics needs the network (--segmenter default): the IOC's frames carry no exact masks")
        records = epics_centring.compare(seeds, lambda beamline: network, RE, hdf5_plugin=args.hdf5_plugin)
        frames = "written by the IOC's HDF5 plugin" if args.hdf5_plugin else "read over Channel Access"
        epics_centring.print_report(records, f"auto_centre over Channel Access (frames {frames}) and in process, segmenter {network.version}, seeds {seeds[0]}..{seeds[-1]}")
        return
    if args.realistic_motion:
        import alignment_time

        def make_segmenter(beamline, spindle):
            if network is None:
                return TruthSegmenter(beamline.camera)
            return for_spindle(network, spindle)

        records = alignment_time.run(seeds, make_segmenter, RE)
        alignment_time.print_report(records, f"auto_centre with realistic motion, segmenter {args.segmenter}, seeds {seeds[0]}..{seeds[-1]}")
        return
    for seed in seeds:
        if seed in done:
            continue
        with tempfile.TemporaryDirectory() as directory:  # one per sample: frames take ~100 MB each
            records.append(one_sample(seed, args.segmenter, network, directory, RE, sweeps, args.keep_frames))
            if args.out and len(records) % 10 == 0:
                args.out.write_text(json.dumps(records))
    if args.out:
        args.out.write_text(json.dumps(records))
    refracting = lambda r: r.get("target") == "crystal"  # noqa: E731
    high_zoom = lambda r: r["zoom"] >= 6  # noqa: E731
    crusted = lambda r: r.get("crust", False)  # noqa: E731
    segmenter = f"{args.segmenter} ({network.version})" if network is not None else args.segmenter
    seed_range = " ".join(map(str, args.seeds)) if args.seeds else f"{args.first_seed}..{args.first_seed + args.samples - 1}"
    print(f"auto_centre on the simulated beamline, segmenter {segmenter}, sweeps {args.sweeps} (fine sweep of {sweeps[-1].frames} frames), seeds {seed_range}")
    print_table("all samples", {m: summarise(records, m) for m in METHODS})
    print_table("crystal targets (seen through the film: refraction)", {m: summarise(records, m, refracting) for m in METHODS})
    print_table("high zoom (levels 6-7, 1.39-1.08 um/px)", {m: summarise(records, m, high_zoom) for m in METHODS})
    print_table("crusted loops (an ice crust on the rim)", {m: summarise(records, m, crusted) for m in METHODS})
    frames = np.array([r["frames"] for r in records])
    compute = np.array([r["compute_s"] for r in records])
    coarse = sum(bool(r.get("coarse_sweep")) for r in records)
    print(f"\nframes per alignment: {frames.mean():.1f} (coarse sweep needed in {coarse} of {len(records)}); compute per alignment: median {np.median(compute):.2f} s, 95th percentile {np.percentile(compute, 95):.2f} s, mean {compute.mean():.2f} s")
    models = [r.get("model", "-") for r in records]
    print(f"plan's model choice on the fine sweep: slab {models.count('slab')}, circle {models.count('circle')}, failed {models.count('-')}")
    failures: dict[str, int] = {}
    for r in records:
        for method in METHODS:
            if r[method]["failure"]:
                key = f"{method}: {r[method]['failure']}"
                failures[key] = failures.get(key, 0) + 1
    print("failures: " + (", ".join(f"{k} x{v}" for k, v in sorted(failures.items())) or "none"))


if __name__ == "__main__":
    main()
