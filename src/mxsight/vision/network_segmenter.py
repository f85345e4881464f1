"""``NetworkSegmenter``: the Keras network behind the :class:`Segmenter` interface."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mxsight.notions import NOTIONS, notion_bit, unpack_masks
from mxsight.vision.model_files import SHIPPED_MODEL, checked_overrides, model_settings, models_directory, read_keras_model
from mxsight.vision.network import OUTPUT_CHANNELS
from mxsight.vision.network_maps import (
    LOOP_NOTIONS,
    FullResolutionProbabilities,
    bilinear_bit_flags,
    click_point,
    loop_box,
    nearest,
    pack_bits,
    uncertain_fraction,
    unpack_window,
)
from mxsight.vision.prediction import Prediction, frame_problem, validate_frame
from mxsight.vision.segmenter import Segmenter

CLICK_CHANNEL = OUTPUT_CHANNELS.index("click")
REFINE_SHAPE = (256, 320)
REFINE_MARGIN = 0.3
LOOP_BITS = sum(notion_bit(notion) for notion in LOOP_NOTIONS)


class NetworkSegmenter(Segmenter):
    """Runs a saved ``.keras`` model: frames are resized so their longer side is ``working_size_px``,
    padded to the network's stride, segmented in batches, and the maps brought back to each frame's
    own resolution; with ``refine`` the loop's region is segmented again at up to the camera's own
    resolution (see ``_predict_usable``), and with ``tracking`` the frames of a sweep after the first
    are segmented in that region only, placed from the frames before (see :meth:`track`). A notion
    is present where its probability exceeds ``threshold``; the click is the centre of the click
    map's peak when the peak exceeds ``click_threshold``."""

    name = "network"

    def __init__(self, model, *, stride: int, working_size_px: int = 320, threshold: float = 0.5, thresholds: Mapping[str, float] | None = None, click_threshold: float = 0.2, refine: bool = True, tracking: bool = True, version: str = "0"):
        if min(REFINE_SHAPE) % stride:
            refine = False
        thresholds = dict(thresholds or {})
        unknown = sorted(set(thresholds) - set(NOTIONS))
        if unknown:
            raise ValueError(f"thresholds name unknown notions {unknown}; known: {', '.join(NOTIONS)}")
        bad = {notion: value for notion, value in thresholds.items() if not 0.0 < float(value) < 1.0}
        if bad or not 0.0 < threshold < 1.0:
            raise ValueError(f"thresholds are probabilities strictly between 0 and 1, got {bad or threshold}")
        self.thresholds = np.array([float(thresholds.get(notion, threshold)) for notion in NOTIONS], dtype=np.float32)
        self.model = model
        self._coarse_graph = None
        self._fine_graph = None
        self.refine = refine
        self.tracking = tracking
        self.stride = stride
        self.working_size_px = working_size_px
        self.threshold = threshold
        self.click_threshold = click_threshold
        self.version = version

    @classmethod
    def load(cls, path: Path | str, **kwargs) -> "NetworkSegmenter":
        """A saved model with the inference settings recorded beside it (``<stem>.json``: version,
        working size, thresholds; see :func:`~mxsight.vision.model_files.model_settings`); ``kwargs``
        override them, checked as the card is. A file keras cannot read is a ``ValueError`` naming it."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no model file at {path}")
        settings = {"version": path.stem, **model_settings(path), **checked_overrides(kwargs, path)}
        model = read_keras_model(path)
        depth = sum(1 for layer in model.layers if type(layer).__name__ == "UpSampling2D")
        return cls(model, stride=2**depth, **settings)

    @classmethod
    def shipped(cls, name: str = SHIPPED_MODEL) -> "NetworkSegmenter":
        """The model shipped with mxsight (``mxsight/models/<name>``) with the inference settings
        recorded beside it (``<stem>.json``: version, working size, thresholds). Loaded once per
        process: every plan that asks for the default shares one model and its traced graph."""
        return _load_shipped(cls, name)

    @classmethod
    def _read_shipped(cls, name: str) -> "NetworkSegmenter":
        path = models_directory(name) / name
        if not path.exists():
            raise FileNotFoundError(f"mxsight's shipped model {path} is missing; reinstall mxsight or pass a segmenter explicitly")
        return cls.load(path)

    def _coarse(self, frames: np.ndarray, working: tuple[int, int]):
        """The coarse pass as one graph from the frames as taken (uint8, any size) to the maps at
        ``working``: the cast and the antialiased resize run in the graph, not as eager ops on a
        float copy of each frame."""
        import tensorflow as tf

        if self._coarse_graph is None:
            self._coarse_graph = tf.function(
                lambda x, size: self.model(tf.image.resize(tf.cast(x, tf.float32), size, method="bilinear", antialias=True), training=False)
            )
        return self._coarse_graph(frames, tuple(int(n) for n in working))  # a Python tuple: one trace per working shape, static shapes inside

    def _working_shape(self, shape: tuple[int, int]) -> tuple[int, int]:
        scale = self.working_size_px / max(shape)
        return tuple(max(self.stride, int(round(n * scale / self.stride)) * self.stride) for n in shape)

    def _predict_usable(self, images: list[np.ndarray]) -> list[Prediction]:
        """Coarse to fine: frames of the same size go through the network as one batch at the working
        size; then the loop's region of each frame goes through again at up to the camera's own
        resolution (one batch of ``REFINE_SHAPE`` windows), so the loop's edges, and the centring
        that rests on them, are as sharp as the camera allows."""
        groups: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(images):
            groups.setdefault(image.shape[:2], []).append(index)
        predictions: list[Prediction | None] = [None] * len(images)
        for shape, indices in groups.items():
            working = self._working_shape(shape)
            batch = np.stack([images[i] for i in indices])
            coarse = np.asarray(self._coarse(batch, working))
            windows = [self.refinement_window(maps, shape) if self.refine else None for maps in coarse]
            refined = [k for k, window in enumerate(windows) if window is not None]
            fine = dict(zip(refined, self._fine([batch[k] for k in refined], [windows[k] for k in refined]))) if refined else {}
            for k, index in enumerate(indices):
                predictions[index] = self._to_prediction(coarse[k], shape, windows[k], fine.get(k))
        return predictions  # type: ignore[return-value]

    def _fine(self, frames: list[np.ndarray], windows: list[tuple[int, int, int, int]]) -> list[FinePass]:
        """The fine pass over each frame's window: the window as taken (uint8) is resized to
        ``REFINE_SHAPE`` and segmented in one TensorFlow graph traced once for windows of any size;
        the notions' bit flags at the window's own size come from the maps by
        :func:`~mxsight.vision.network_maps.bilinear_bit_flags`, so that no float maps of the window's
        size are made."""
        import tensorflow as tf

        if self._fine_graph is None:

            @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])
            def fine(crop):
                return self.model(tf.image.resize(tf.cast(crop, tf.float32)[None], REFINE_SHAPE, method="bilinear", antialias=True), training=False)[0]

            self._fine_graph = fine
        passes = []
        for frame, window in zip(frames, windows, strict=True):
            maps = np.asarray(self._fine_graph(_crop(frame, window)))
            passes.append(FinePass(maps=maps, packed=bilinear_bit_flags(maps[..., : len(NOTIONS)], self.thresholds, window[2:])))
        return passes

    def track(self, image: np.ndarray, previous: Sequence[Prediction] = ()) -> Prediction:
        """One network pass instead of two: the frame is segmented only in a window placed on the loop
        of the frames before (:meth:`tracking_window`), and labelled there only (``labelled_region``).
        The frame is segmented whole, coarse then fine, when there is no loop before to follow, when
        it is unusable, or when the window shows no loop or cuts it (a loop pixel on a side of the
        window that is not a side of the frame): the loop moved farther than the window's margin."""
        if not (self.refine and self.tracking):
            return self.predict(image)
        frame = validate_frame(image)
        shape = frame.shape[:2]
        window = self.tracking_window(previous, shape)
        if window is None or frame_problem(frame) is not None:
            return self.predict(frame)
        fine = self._fine([frame], [window])[0]
        if not self._holds_loop(fine.maps, window, shape):
            return self.predict(frame)
        return self._to_prediction(None, shape, window, fine)

    def tracking_window(self, previous: Sequence[Prediction], shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
        """The window for the next frame of a sweep: the last frame's loop box, moved on by as much as
        the loop moved between the two frames before (a loop off the axis moves on a sinusoid, close
        to straight over one step), with the margin and proportions of :meth:`refinement_window`.
        None when the last frame shows no refined loop or was another size."""
        recent = list(previous)[-2:]
        if not recent or any(p.shape != shape for p in recent):
            return None
        boxes = [p.extras.get("loop_box_px") for p in recent]
        if boxes[-1] is None:
            return None
        top, left, bottom, right = boxes[-1]
        shift_rows = shift_cols = 0.0
        if len(boxes) == 2 and boxes[0] is not None:
            shift_rows = (top + bottom - boxes[0][0] - boxes[0][2]) / 2.0
            shift_cols = (left + right - boxes[0][1] - boxes[0][3]) / 2.0
        return self._window_around((top + shift_rows, left + shift_cols, bottom + shift_rows, right + shift_cols), shape)

    def _holds_loop(self, fine: np.ndarray, window: tuple[int, int, int, int], shape: tuple[int, int]) -> bool:
        """Whether the fine ``window`` shows a loop none of whose pixels lies on a side of the window
        inside the frame (where the frame's own border cuts the loop, the whole frame would too)."""
        loop = fine[..., NOTIONS.index("loop")] > self.thresholds[NOTIONS.index("loop")]
        if not loop.any():
            return False
        row, col, height, width = window
        cut = (row > 0 and loop[0].any()) or (row + height < shape[0] and loop[-1].any())
        cut = cut or (col > 0 and loop[:, 0].any()) or (col + width < shape[1] and loop[:, -1].any())
        return not cut

    def refinement_window(self, maps: np.ndarray, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
        """(top, left, rows, cols) in frame pixels of the window to segment again: the largest loop
        found in the coarse ``maps`` with a margin, in the proportions of ``REFINE_SHAPE`` and at
        least that many frame pixels. None when no loop was found, or when the window would not be
        seen finer than in the coarse pass."""
        box = loop_box(maps[..., NOTIONS.index("loop")] > self.thresholds[NOTIONS.index("loop")], (0, 0, *shape))
        return None if box is None else self._window_around(box, shape)

    def _window_around(self, box: tuple[float, float, float, float], shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
        """The window around a loop ``box`` (top, left, bottom, right in frame pixels, the last two
        exclusive): see :meth:`refinement_window`. Its size is ``REFINE_SHAPE`` times a multiple of
        1/8, so the windows of a run, recorded as tracked frames' labelled regions and exported as
        training examples, come in a few sizes."""
        top, left, bottom, right = box
        working = self._working_shape(shape)
        scale_rows, scale_cols = shape[0] / working[0], shape[1] / working[1]
        magnification = refinement_magnification((bottom - top, right - left))
        if magnification > 0.8 * max(scale_rows, scale_cols):
            return None
        height, width = int(round(REFINE_SHAPE[0] * magnification)), int(round(REFINE_SHAPE[1] * magnification))
        if height > shape[0] or width > shape[1]:
            return None
        row = int(np.clip(round((top + bottom) / 2 - height / 2), 0, shape[0] - height))
        col = int(np.clip(round((left + right) / 2 - width / 2), 0, shape[1] - width))
        return row, col, height, width

    def _to_prediction(self, maps: np.ndarray | None, shape: tuple[int, int], window: tuple[int, int, int, int] | None = None, fine: FinePass | None = None) -> Prediction:
        """Masks at the frame's resolution: inside ``window`` from the ``fine`` maps (bilinear, so
        the loop's edges keep their sub-pixel place), elsewhere from the coarse maps by nearest
        neighbour (pin, stem and foreground need no more, and this is the cost of a frame); the loop,
        its inside and the crystal are kept only inside the window (the refined loop). Without coarse
        ``maps`` (a tracked frame) only the window is labelled. The masks are made as one bit-flag
        map (the form frames are recorded in) and unpacked once, contiguous per notion (for a tracked
        frame, only the window's part is unpacked); probabilities are brought to the frame's
        resolution only when asked for. The refined loop's box is kept (``extras["loop_box_px"]``)
        for the next frame's window."""
        channels = len(NOTIONS)
        extras: dict[str, object] = {}
        if maps is not None:
            click = click_point(maps[..., CLICK_CHANNEL], shape, self.click_threshold)
            packed = nearest(pack_bits(maps[..., :channels] > self.thresholds), shape)
        else:
            click, packed = None, np.zeros(shape, dtype=np.uint8)
        if window is not None and fine is not None:
            row, col, height, width = window
            if maps is not None:
                packed &= np.uint8(0xFF & ~LOOP_BITS)
            packed[row : row + height, col : col + width] = fine.packed
            fine_click = click_point(fine.maps[..., CLICK_CHANNEL], (height, width), self.click_threshold)
            if fine_click is not None:
                click = (fine_click[0] + row, fine_click[1] + col)
            extras["loop_box_px"] = loop_box(fine.maps[..., NOTIONS.index("loop")] > self.thresholds[NOTIONS.index("loop")], window)
        masks = unpack_masks(packed) if maps is not None else unpack_window(fine.packed, shape, window)
        fine_maps = None if fine is None else fine.maps[..., :channels]
        probabilities = FullResolutionProbabilities(None if maps is None else maps[..., :channels], shape, window, fine_maps)
        present = bool(masks["loop"].any() or masks["loop_inside"].any())
        extras["uncertain_fraction"] = uncertain_fraction(fine.maps if fine is not None else maps)
        labelled_region = window if maps is None else None
        return Prediction(masks=masks, probabilities=probabilities, click=click, present=present, extras=extras, packed=packed, labelled_region=labelled_region)


def refinement_magnification(loop_extent_px: tuple[float, float], shape_px: tuple[int, int] = REFINE_SHAPE) -> float:
    """Frame pixels per pixel of the fine pass's window around a loop ``loop_extent_px`` (rows, cols):
    the loop with ``REFINE_MARGIN`` on each side fits in ``shape_px`` times a multiple of 1/8, and
    never below the frame's own resolution."""
    needed = [extent * (1 + 2 * REFINE_MARGIN) / size for extent, size in zip(loop_extent_px, shape_px)]
    return float(np.ceil(8 * max(1.0, *needed)) / 8)


@dataclass(frozen=True)
class FinePass:
    """What the fine pass gives for one window: the maps at ``REFINE_SHAPE`` (all channels) and the
    notions' bit flags at the window's own size."""

    maps: np.ndarray
    packed: np.ndarray


@functools.lru_cache(maxsize=None)
def _load_shipped(cls: type[NetworkSegmenter], name: str) -> NetworkSegmenter:
    return cls._read_shipped(name)


def _crop(image: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
    row, col, height, width = window
    return image[row : row + height, col : col + width]


