"""Labelled training images from the simulator: random samples, zooms, angles and backgrounds."""

from __future__ import annotations

import dataclasses
import multiprocessing
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mxsight.devices.zoom import ZoomCalibration
from mxsight.sim.appearance import camera_variety
from mxsight.sim.backgrounds import BACKGROUND_SETS, background_for, synthetic_empty_field
from mxsight.sim.overlays import burn_overlays
from mxsight.sim.projection import CAMERA_SHAPE_PX, CameraGeometry, GoniometerPositions
from mxsight.sim.render import random_optics, render
from mxsight.sim.scene import random_sample
from mxsight.training.dataset_format import DatasetWriter, Example

TRAINING_SHAPE_PX = (256, 320)
REALISM_KNOBS = ("liquid_probability", "polished_pin_probability", "camera_variety", "overlay_probability", "synthetic_field_probability")


@dataclasses.dataclass(frozen=True)
class SceneMix:
    """What the random views show: ``ice_probability``, the ``random_sample`` knob that gives a sample
    ice blobs in the film and air bubbles with that probability, and, each with half of it and drawn
    on their own, an ice crust along the loop's rim and a mesh loop; and the zoom levels drawn from
    (None: all). A dataset rich in ice at high zoom teaches the crust, which at low zoom is a pixel or
    two thick. ``loop_windows``: each view is the window around the loop that the segmenter's fine
    pass sees (:func:`loop_window_magnification`), not the whole field of view.

    The realism knobs (``REALISM_KNOBS``, all off by default so that older datasets render as they
    did) are the probabilities of: a liquid drop in the loop, a polished pin, another lighting mode
    (``mxsight.sim.appearance.camera_variety``), overlays burned in by control software, and a
    synthetic empty field of another camera instead of the seed beamline's."""

    ice_probability: float = 0.3
    zoom_levels: tuple[int, ...] | None = None
    loop_windows: bool = False
    liquid_probability: float = 0.0
    polished_pin_probability: float = 0.0
    camera_variety: float = 0.0
    overlay_probability: float = 0.0
    synthetic_field_probability: float = 0.0

    def __post_init__(self) -> None:
        for name in ("ice_probability", *REALISM_KNOBS):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.zoom_levels is None:
            return
        known = sorted(ZoomCalibration.simulated().levels)
        levels = tuple(self.zoom_levels)
        if not levels or set(levels) - set(known) or len(set(levels)) != len(levels):
            raise ValueError(f"zoom_levels must be a non-empty choice of distinct levels of {known}, got {self.zoom_levels}")


def example_seed(dataset_seed: int, index: int) -> int:
    """Independent, reproducible seed of example ``index`` of a dataset drawn with ``dataset_seed``."""
    return int(np.random.SeedSequence([dataset_seed, index]).generate_state(1)[0])


def loop_window_magnification(loop_extent_um: tuple[float, float], pixel_size_um: float, shape_px: tuple[int, int] = TRAINING_SHAPE_PX) -> float:
    """Camera pixels per pixel of the window around a loop ``loop_extent_um`` (rows, cols) seen at
    ``pixel_size_um``, as the fine pass takes it (``NetworkSegmenter.refinement_window``): the loop with
    ``REFINE_MARGIN`` on each side, in ``shape_px`` times a multiple of 1/8, never below the camera's
    own resolution, and at most 0.8 of the whole field's scale (beyond, the fine pass is not run)."""
    from mxsight.vision.network_segmenter import refinement_magnification

    magnification = refinement_magnification(tuple(extent / pixel_size_um for extent in loop_extent_um), shape_px)
    return min(magnification, 0.8 * CAMERA_SHAPE_PX[1] / shape_px[1])


def render_example(seed: int, shape_px: tuple[int, int] = TRAINING_SHAPE_PX, mix: SceneMix = SceneMix()) -> Example:
    """One random labelled view: the field of view of a random zoom, resampled to ``shape_px`` (rows,
    cols of the horizontal-spindle view; vertical-spindle views come out transposed); with
    ``mix.loop_windows``, the window around the loop that the fine pass would take from that field."""
    rng = np.random.default_rng(seed)
    calibration = ZoomCalibration.simulated()
    zoom = int(rng.choice(sorted(mix.zoom_levels or calibration.levels)))
    scale = CAMERA_SHAPE_PX[1] / shape_px[1]
    level = calibration[zoom]
    beam = (level.beam_position_px[0] / scale, level.beam_position_px[1] / scale)
    camera = CameraGeometry(pixel_size_um=level.pixel_size_um * scale, beam_position_px=beam, shape_px=shape_px)
    sample = random_sample(
        int(rng.integers(2**31)),
        ice_probability=mix.ice_probability,
        capillary_probability=0.1,
        teardrop_probability=0.4,
        loop_half_width_range_mm=(0.01, 0.5),
        liquid_probability=mix.liquid_probability,
        polished_pin_probability=mix.polished_pin_probability,
    )
    if mix.loop_windows:
        camera, positions = _loop_window_view(sample, level.pixel_size_um, shape_px, rng)
    else:
        half_field_mm = 0.4 * np.array(shape_px) * camera.pixel_size_mm
        positions = GoniometerPositions(
            omega_deg=float(rng.uniform(0, 360)),
            centring_x_mm=float(rng.uniform(-1, 1) * min(half_field_mm[0], 0.3)),
            centring_y_mm=float(rng.uniform(-1, 1) * min(half_field_mm[0], 0.3)),
            alignment_y_mm=float(-sample.loop_centre_x_mm + rng.uniform(-1, 1) * half_field_mm[1]),
        )
    background_set = str(rng.choice(BACKGROUND_SETS))
    optics = random_optics(rng, camera.pixel_size_um)
    background = background_for(zoom, shape_px, background_set)
    looks = np.random.default_rng([seed, 7])  # the realism knobs' own stream: older datasets unchanged
    if looks.uniform() < mix.synthetic_field_probability:
        background_set = "synthetic"
        background = synthetic_empty_field(shape_px, int(looks.integers(2**31)))
    if looks.uniform() < mix.camera_variety:
        optics = camera_variety(optics, looks)
    frame = render(sample, camera, positions, background, noise_seed=int(rng.integers(2**31)), optics=optics)
    if looks.uniform() < mix.overlay_probability:
        frame = dataclasses.replace(frame, image=burn_overlays(frame.image, looks))
    metadata = {
        "origin": "simulated",
        "seed": seed,
        "zoom": zoom,
        "pixel_size_um": camera.pixel_size_um,
        "omega_deg": positions.omega_deg,
        "background_set": background_set,
        "scene_mix": dataclasses.asdict(mix),
        "sample_seed": sample.seed,
        "sample": dataclasses.asdict(sample),
        "loop_centre_px": list(frame.loop_centre_px),
        "spindle": optics.spindle,
        "pin_side": optics.pin_side,
        "refractive_index": sample.refractive_index,
        "optics": {k: v for k, v in optics.__dict__.items() if k not in ("spindle", "pin_side")},
    }
    return Example(image=frame.image, masks=frame.masks, click_px=frame.click_px, metadata=metadata)


def _loop_window_view(sample, camera_pixel_size_um: float, shape_px: tuple[int, int], rng: np.random.Generator) -> tuple[CameraGeometry, GoniometerPositions]:
    """Camera and positions for the fine pass's window around the loop: the window's scale from the
    loop's size (face-on, with its wire), its centre on the rotation axis, the loop centre moved off
    the window's centre by up to a tenth of the window (the fine pass centres the window on the
    loop as the coarse pass saw it)."""
    wire_um = 2000.0 * sample.loop_wire_radius_mm
    extent_um = (2000.0 * sample.loop_half_width_mm + wire_um, 2000.0 * sample.loop_half_length_mm + wire_um)
    pixel_size_um = camera_pixel_size_um * loop_window_magnification(extent_um, camera_pixel_size_um, shape_px)
    camera = CameraGeometry(pixel_size_um=pixel_size_um, beam_position_px=(shape_px[0] / 2, shape_px[1] / 2), shape_px=shape_px)
    jitter_mm = 0.1 * np.array(shape_px) * camera.pixel_size_mm
    along_mm, u_mm, w_mm = sample.loop_centre_rotating_mm()
    positions = GoniometerPositions(
        omega_deg=float(rng.uniform(0, 360)),
        centring_x_mm=float(-u_mm + rng.uniform(-1, 1) * jitter_mm[0]),
        centring_y_mm=float(-w_mm + rng.uniform(-1, 1) * jitter_mm[0]),
        alignment_y_mm=float(-along_mm + rng.uniform(-1, 1) * jitter_mm[1]),
    )
    return camera, positions


def render_dataset(n: int, out: Path | str, seed: int, *, workers: int | None = None, shape_px=TRAINING_SHAPE_PX, progress: bool = True, mix: SceneMix = SceneMix()) -> Path:
    """Render ``n`` examples in parallel over ``workers`` processes (all cores by default), in order,
    so the dataset is the same for the same seed whatever the number of workers."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    seeds = [example_seed(seed, index) for index in range(n)]
    workers = workers or multiprocessing.cpu_count()
    with DatasetWriter(out) as writer:
        if workers == 1:
            examples = map(lambda s: render_example(s, shape_px, mix), seeds)
            for example in tqdm(examples, total=n, disable=not progress, desc="rendering"):
                writer.add(example)
        else:
            with multiprocessing.get_context("spawn").Pool(workers) as pool:
                args = [(s, shape_px, mix) for s in seeds]
                for example in tqdm(pool.imap(_render_star, args, chunksize=8), total=n, disable=not progress, desc="rendering"):
                    writer.add(example)
    return Path(out)


def _render_star(args: tuple[int, tuple[int, int], SceneMix]) -> Example:
    return render_example(*args)
