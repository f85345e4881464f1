"""A segmenter's check of its own frame: does what it labelled look like a mounted sample?

Two checks that hold on any camera, neither of which needs the segmenter to be right about notions:

1. **Foreground against the empty field.** Where the beamline's empty field for the zoom is known
   (recorded with the sample moved out), the pixels that differ from it are the sample, whatever it
   looks like. The segmenter's foreground must agree with them (intersection over union at least
   ``min_foreground_iou``); a sample reported where the field shows none, or none where it shows one,
   fails.
2. **Structure.** A mounted sample enters the view from its base, on its pin: a sample reported on a
   whole frame must reach an edge of the view (a patch that reaches none is dust, a drop on the window
   or a shadow), and its free end, away from that edge, is loop, loop_inside, crystal, ice or stem. A frame whose
   free end is labelled pin (a liquid-filled loop taken for the pin) or nothing at all fails, and so
   does one whose loop region falls into separate sizeable pieces: a loop is one object, and a loop
   in pieces with stem between them is a loop the segmenter did not understand.

A frame that fails is ``unsure`` with the reason (:attr:`Prediction.unsure_reason`); plans never fit a
move to it, and a sweep with too many such frames is refused (``SegmentationNotTrusted``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage as ndi
from skimage.transform import resize

from mxsight.vision.classical import MIN_SAMPLE_FRACTION, edge_margin_px, empty_field_foreground
from mxsight.vision.prediction import Prediction

Spindle = Literal["horizontal", "vertical"]
TIP_NOTIONS = ("loop", "loop_inside", "crystal", "ice", "stem", "capillary")
NO_EDGE_REACHED = "the labelled sample reaches no edge of the view: a mounted sample enters it on its pin (dust, a drop or a shadow?)"


@dataclass(frozen=True)
class SelfCheckSettings:
    """Limits of the self-check.

    min_foreground_iou: least IoU between the segmenter's foreground and the pixels that differ from
        the empty field (only checked when the empty field is known).
    min_area_fraction: a foreground smaller than this share of the checked region counts as none.
    tip_fraction: the free end is the last this share of the sample's extent along the spindle.
    max_pin_at_tip: most share of the free end's pixels labelled pin.
    min_tip_labelled: least share of the free end's pixels labelled one of ``TIP_NOTIONS``.
    min_part_fraction: foreground regions smaller than this share of the largest are not part of the
        sample (dust on the lens, specks), for the structure check.
    max_loop_piece_fraction: most area of the loop region's second largest piece, as a share of the
        largest (smaller pieces are specks: crust, a crystal's tip).
    stride_px: :func:`check_frame` looks at every this-many-th pixel of a frame.
    min_object_px: regions of the empty-field difference smaller than this (frame pixels) are specks.
    edge_px: how close to the checked region's edge the sample must come to enter from that side.
    """

    min_foreground_iou: float = 0.5
    min_area_fraction: float = MIN_SAMPLE_FRACTION
    tip_fraction: float = 0.1
    max_pin_at_tip: float = 0.5
    min_tip_labelled: float = 0.2
    edge_px: int = 3
    min_part_fraction: float = 0.05
    max_loop_piece_fraction: float = 0.3
    stride_px: int = 4
    min_object_px: int = 200

    def __post_init__(self) -> None:
        for name in ("min_foreground_iou", "min_area_fraction", "tip_fraction", "max_pin_at_tip", "min_tip_labelled", "min_part_fraction", "max_loop_piece_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"SelfCheckSettings.{name} must be within [0, 1], got {value}")
        for name in ("edge_px", "stride_px"):
            if getattr(self, name) < 1:
                raise ValueError(f"SelfCheckSettings.{name} must be at least 1, got {getattr(self, name)}")


def check_frame(
    prediction: Prediction,
    frame: np.ndarray,
    empty_field: np.ndarray | None = None,
    *,
    spindle: Spindle = "horizontal",
    settings: SelfCheckSettings = SelfCheckSettings(),
) -> str:
    """Why ``prediction`` of ``frame`` (RGB uint8) is not to be trusted, or "" when it passes.

    Judged on the prediction's labelled region, every ``settings.stride_px``-th pixel: a check of
    gross errors needs no more, at a fraction of the segmentation's cost. ``empty_field`` is the
    camera's empty field at the frame's zoom (resized to the frame when its size differs), or None
    when none was recorded (then only the structure is checked).
    """
    if prediction.problem:
        return ""
    top, left, rows, cols = prediction.region()
    step = settings.stride_px
    window = (slice(top, top + rows, step), slice(left, left + cols, step))
    field_foreground = None
    if empty_field is not None:
        field = np.asarray(empty_field)
        if field.shape[:2] != frame.shape[:2]:
            field = resize(field, frame.shape[:2] + field.shape[2:], preserve_range=True)
        field_foreground = empty_field_foreground(frame[window], field[window], min_object_px=max(1, settings.min_object_px // step**2))
    masks = {notion: np.asarray(mask[window], dtype=bool) for notion, mask in prediction.masks.items()}
    return _check_window(masks, field_foreground, reports_sample=prediction.present, tracked=prediction.labelled_region is not None, spindle=spindle, settings=settings)


def check_prediction(
    prediction: Prediction,
    empty_field_foreground: np.ndarray | None = None,
    *,
    spindle: Spindle = "horizontal",
    settings: SelfCheckSettings = SelfCheckSettings(),
) -> str:
    """Why ``prediction`` is not to be trusted, or "" when it passes.

    Parameters
    ----------
    prediction : the segmenter's output for one frame (its ``labelled_region`` is what is checked).
    empty_field_foreground : (rows, cols) bool of the prediction's shape, the pixels that differ from
        the empty field (:func:`mxsight.vision.classical.empty_field_foreground`), or None when no
        empty field is known.
    spindle : "horizontal" (the spindle along image columns) or "vertical"; a hint where the sample
        enters the view through the edges across it alone.
    """
    if spindle not in ("horizontal", "vertical"):
        raise ValueError(f"spindle must be 'horizontal' or 'vertical', got {spindle!r}")
    if prediction.problem:
        return ""  # an unusable frame is reported as such, not as a segmentation failure
    top, left, rows, cols = prediction.region()
    window = (slice(top, top + rows), slice(left, left + cols))
    masks = {notion: np.asarray(mask[window], dtype=bool) for notion, mask in prediction.masks.items()}
    field_foreground = None
    if empty_field_foreground is not None:
        field_foreground = np.asarray(empty_field_foreground, bool)
        if field_foreground.shape != prediction.shape:
            raise ValueError(f"the empty-field difference is {field_foreground.shape}, the prediction {prediction.shape}")
        field_foreground = field_foreground[window]
    return _check_window(masks, field_foreground, reports_sample=prediction.present, tracked=prediction.labelled_region is not None, spindle=spindle, settings=settings)


def _check_window(
    masks: dict[str, np.ndarray],
    field_foreground: np.ndarray | None,
    *,
    reports_sample: bool,
    tracked: bool,
    spindle: Spindle,
    settings: SelfCheckSettings,
) -> str:
    """The checks on the labelled window's masks. A tracked frame's window holds the loop and the
    stem leaving it, so the sample reaching the view's edge is checked on whole frames only."""
    if spindle not in ("horizontal", "vertical"):
        raise ValueError(f"spindle must be 'horizontal' or 'vertical', got {spindle!r}")
    if field_foreground is not None:
        reason = _foreground_disagreement(masks["foreground"], field_foreground, settings)
        if reason:
            return reason
    parts, sample = _sample_parts(masks["foreground"], settings.min_part_fraction)
    if reports_sample and not tracked and not _reaches_an_edge(parts, settings.edge_px):
        return NO_EDGE_REACHED
    if _spindle_runs_down(masks["foreground"], spindle, settings.edge_px):
        masks = {notion: mask.T for notion, mask in masks.items()}
        parts, sample = parts.T, sample.T
    return _structure_problem({**masks, "foreground": parts}, sample, settings)


def _reaches_an_edge(foreground: np.ndarray, edge_px: int) -> bool:
    """Whether ``foreground`` comes within the edge margin of any side: ``edge_px`` or the classical
    segmenter's margin (:func:`~mxsight.vision.classical.edge_margin_px`), whichever is wider, so that the two
    agree on what enters the view. An empty foreground reaches none."""
    margin = edge_margin_px(foreground.shape, at_least_px=edge_px)
    return bool(foreground[:margin].any() or foreground[-margin:].any() or foreground[:, :margin].any() or foreground[:, -margin:].any())


def _spindle_runs_down(foreground: np.ndarray, spindle: Spindle, edge_px: int) -> bool:
    """Whether the sample runs down the image: it enters through the top or bottom edge, or through no
    edge and ``spindle`` says "vertical". The spindle is a hint only: a sample that enters through
    the edges across it alone shows the camera is turned (a segmenter shared between beamlines)."""
    side_edges = foreground[:, :edge_px].any() or foreground[:, -edge_px:].any()
    end_edges = foreground[:edge_px].any() or foreground[-edge_px:].any()
    if spindle == "horizontal":
        return end_edges and not side_edges
    return end_edges or not side_edges


def _foreground_disagreement(network: np.ndarray, field: np.ndarray, settings: SelfCheckSettings) -> str:
    least = settings.min_area_fraction * network.size
    has_network, has_field = np.count_nonzero(network) > least, np.count_nonzero(field) > least
    if not has_network and not has_field:
        return ""
    if has_network and not has_field:
        return "a sample is labelled where the frame does not differ from the empty field"
    if has_field and not has_network:
        return "the frame differs from the empty field where nothing is labelled"
    iou = np.count_nonzero(network & field) / np.count_nonzero(network | field)
    if iou < settings.min_foreground_iou:
        return f"the labelled foreground agrees with the empty-field difference at IoU {iou:.2f} < {settings.min_foreground_iou}"
    return ""


def _structure_problem(masks: dict[str, np.ndarray], sample: np.ndarray, settings: SelfCheckSettings) -> str:
    """Structure along image columns (the spindle) of ``masks``, whose foreground is the sample's parts
    and ``sample`` its largest: the pin at the base, a loop or stem at the free end, the loop one piece."""
    foreground = masks["foreground"]
    if np.count_nonzero(foreground) <= settings.min_area_fraction * foreground.size:
        return ""
    columns = np.flatnonzero(foreground.any(axis=0))
    first, last = int(columns[0]), int(columns[-1])
    base = _base_side(masks, first, last, settings.edge_px)
    if base is None:
        return ""
    extent = last - first + 1
    depth = max(3, int(np.ceil(settings.tip_fraction * extent)))
    tip = np.zeros(foreground.shape[1], dtype=bool)
    if base == "left":
        tip[max(first, last - depth + 1) : last + 1] = True
    else:
        tip[first : min(last, first + depth - 1) + 1] = True
    at_tip = foreground & tip[None, :]
    count = np.count_nonzero(at_tip)
    pin_share = np.count_nonzero(masks["pin"] & at_tip) / count
    if pin_share > settings.max_pin_at_tip:
        return f"the sample's free end is labelled pin ({100 * pin_share:.0f}% of it): a loop taken for the pin?"
    labelled = np.logical_or.reduce([masks[n] for n in TIP_NOTIONS]) & at_tip
    share = np.count_nonzero(labelled) / count
    if share < settings.min_tip_labelled:
        return f"the sample's free end is labelled neither loop, crystal, ice nor stem ({100 * share:.0f}% of it)"
    loop_region = (masks["loop"] | masks["loop_inside"] | masks["crystal"]) & sample  # the sample's, not a drop's
    return _loop_in_pieces(loop_region, settings.max_loop_piece_fraction)


def _regions_by_area(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 8-connected regions of ``mask`` (labels, 0 outside them) and the area of each label."""
    regions, _ = ndi.label(mask, structure=np.ones((3, 3)))
    return regions, np.bincount(regions.ravel())


def _loop_in_pieces(loop_region: np.ndarray, max_piece_fraction: float) -> str:
    """Why the loop region is not one object (its second largest piece is over ``max_piece_fraction``
    of the largest), or ""."""
    _, areas = _regions_by_area(loop_region)
    if areas.size <= 2:
        return ""
    areas = np.sort(areas[1:])[::-1]
    if areas[1] <= max_piece_fraction * areas[0]:
        return ""
    pieces = int(np.count_nonzero(areas > max_piece_fraction * areas[0]))
    return f"the loop is labelled in {pieces} separate pieces (the second {100 * areas[1] / areas[0]:.0f}% of the largest): a loop is one object"


def _sample_parts(foreground: np.ndarray, min_part_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """The foreground's regions of at least ``min_part_fraction`` of the largest one's area, and the
    largest alone (the mounted sample, pin to loop)."""
    regions, areas = _regions_by_area(foreground)
    if areas.size <= 2:
        return foreground, foreground
    areas = areas[1:]
    keep = np.flatnonzero(areas >= min_part_fraction * areas.max()) + 1
    return np.isin(regions, keep), regions == np.argmax(areas) + 1


def _base_side(masks: dict[str, np.ndarray], first: int, last: int, edge_px: int) -> str | None:
    """The side ("left" or "right") the sample enters from: the edge its foreground reaches (the
    larger crossing when it reaches both), else the side of the pin; None when neither tells."""
    foreground = masks["foreground"]
    cols = foreground.shape[1]
    left = np.count_nonzero(foreground[:, :edge_px]) if first < edge_px else 0
    right = np.count_nonzero(foreground[:, cols - edge_px :]) if last >= cols - edge_px else 0
    if left or right:
        return "left" if left >= right else "right"
    pin_columns = np.flatnonzero(masks["pin"].any(axis=0))
    if pin_columns.size:
        return "left" if pin_columns.mean() - first < last - pin_columns.mean() else "right"
    return None
