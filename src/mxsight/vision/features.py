"""Per-frame features derived from a :class:`Prediction`: what plans fit and what is recorded."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from mxsight.vision.prediction import Prediction

NAN_POINT = (float("nan"), float("nan"))
MIN_TARGET_AREA_PX = 30
MIN_CRYSTAL_AREA_PX = 12
CENTRE_WIDTH_FRACTION = 0.5  # the loop's centre (along and across the spindle) is found on its part at least this wide
MAX_ICE_SHARE = 0.5  # a crystal blob more than half of which is also labelled ice is ice
ICE_EDGE_REACH_PX = 1  # a loop outline pixel this close to the ice's outline runs along the ice's edge


@dataclass(frozen=True)
class FrameFeatures:
    """Geometry of the sample in one frame; points are (row, col) in pixels, NaN when absent.

    ``target_px`` is the loop centre (the default thing to centre); ``crystal_px`` the centroid of the
    crystal mask (less the blobs that are mostly ice, see :func:`crystal_mask`) when one of at least
    ``MIN_CRYSTAL_AREA_PX`` pixels is seen. ``loop_touches_edge``
    says the loop runs out of the image, so its centre there is not measured. ``loop_edge_on_ice`` and
    ``loop_edge_along_ice_edge`` say how much of the loop's outline lies on ice, and on the ice's own
    outline (see :func:`iced_outline`): where both are large the loop was drawn to the edge of an ice
    crust, not to the wire, and its centre is off by the crust's thickness. Where the segmenter
    labelled only part of the frame (``Prediction.labelled_region``, a tracked frame), the pin's tip is
    not seen (NaN) and ``foreground_area_px`` counts that part only. ``unsure_reason`` says why the
    frame failed its segmentation self-check ("" when it passed).
    """

    omega_deg: float
    present: bool
    target: str
    target_px: tuple[float, float]
    bbox_px: tuple[float, float, float, float]
    area_px: float
    centroid_px: tuple[float, float]
    tip_px: tuple[float, float]
    click_px: tuple[float, float]
    foreground_area_px: float
    problem: str = ""
    crystal_px: tuple[float, float] = NAN_POINT
    crystal_area_px: float = 0.0
    loop_touches_edge: bool = False
    loop_edge_on_ice: float = 0.0
    loop_edge_along_ice_edge: float = 0.0
    unsure_reason: str = ""

    def point(self, target: str) -> tuple[float, float]:
        """(row, col) of ``target`` ("loop" or "crystal") in this frame, NaN when not seen."""
        if target == "loop":
            return self.target_px
        if target == "crystal":
            return self.crystal_px
        raise ValueError(f"unknown target {target!r}; expected 'loop' or 'crystal'")


def _extent(mask: np.ndarray) -> tuple[slice, slice] | None:
    """Rows and columns that hold the mask (its bounding box), or None when it is empty: the
    per-frame work then runs on that box rather than on the whole camera frame."""
    rows = np.flatnonzero(mask.any(axis=1))
    if not rows.size:
        return None
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def _centroid(mask: np.ndarray) -> tuple[float, float]:
    box = _extent(mask)
    if box is None:
        return NAN_POINT
    rows, cols = np.nonzero(mask[box])
    return float(rows.mean() + box[0].start), float(cols.mean() + box[1].start)


def _touches_edge(mask: np.ndarray, sides: tuple[bool, bool, bool, bool] = (True, True, True, True)) -> bool:
    """Whether the mask reaches one of its array's ``sides`` (top, bottom, left, right) that are asked
    about: those that are the camera frame's own."""
    top, bottom, left, right = sides
    return bool((top and mask[0].any()) or (bottom and mask[-1].any()) or (left and mask[:, 0].any()) or (right and mask[:, -1].any()))


def _bbox(mask: np.ndarray) -> tuple[float, float, float, float]:
    box = _extent(mask)
    if box is None:
        return (float("nan"),) * 4
    return float(box[0].start), float(box[1].start), float(box[0].stop - 1), float(box[1].stop - 1)


def _tip(foreground: np.ndarray, spindle: str) -> tuple[float, float]:
    """The foreground point farthest from the side where the pin enters the image."""
    along_axis = 1 if spindle == "horizontal" else 0
    profile = foreground.sum(axis=1 - along_axis)
    occupied = np.flatnonzero(profile)
    if not occupied.size:
        return NAN_POINT
    size = foreground.shape[along_axis]
    near_low_end = profile[: int(np.ceil(size * 0.05))].sum()
    near_high_end = profile[int(np.floor(size * 0.95)) + 1 :].sum()
    pin_at_low_end = near_low_end >= near_high_end
    extreme = int(occupied[-1] if pin_at_low_end else occupied[0])
    line = foreground[:, extreme] if spindle == "horizontal" else foreground[extreme]
    point = (float(np.median(np.flatnonzero(line))), float(extreme))
    return point if spindle == "horizontal" else (point[1], point[0])


def _wide_part(mask: np.ndarray, spindle: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mask as lines across the spindle (rows across, columns along), each line's width, and the
    indices of the lines at least ``CENTRE_WIDTH_FRACTION`` as wide as the widest (empty for an empty
    mask): the part of the loop both centre coordinates are taken on, which leaves the stem out."""
    lines = mask if spindle == "horizontal" else mask.T
    width = lines.sum(axis=0).astype(np.float64)
    wide = np.flatnonzero(width >= CENTRE_WIDTH_FRACTION * width.max()) if width.any() else np.empty(0, dtype=int)
    return lines, width, wide


def _along_centre(width: np.ndarray, wide: np.ndarray) -> float:
    """Along-spindle coordinate of the loop's centre: the width-weighted mean position of its wide
    part (:func:`_wide_part`).

    A loop's projection is symmetric about its centre along the spindle whatever omega is, so that
    part is centred on it, and the stem, far narrower, is left out. It replaces the middle of the
    plateau of the widest columns, which for an elongated loop is long and flat: a network mask a few
    pixels wider on one side moved it by 5-15 px (confident moves 10-18 um off along the spindle)."""
    if not wide.size:
        return float("nan")
    return float(np.average(wide, weights=width[wide]))


def _across_centre(lines: np.ndarray, wide: np.ndarray) -> float:
    """Across-spindle coordinate of the loop's centre: the median, over the lines of its wide part
    (:func:`_wide_part`), of the midpoint between the loop's first and last pixel on the line.

    A loop's outline is symmetric about its centre line along the spindle, so each such midpoint lies
    on it; the middle of the loop's whole extent rests on its two outermost pixels, and a bulge of the
    mask at one of them (a few pixels of ice, stem or a speck taken for loop) moved it by as much.
    With the network's masks, the circle fitted to the loop centres of a fine sweep now leaves a median
    residual of 0.23 px, against 0.51 px (centring benchmark, seeds 1000-1039), and one view of seed
    1001 errs by 0.6 px, against 3.0 px; with exact masks, by at most 0.3 px, against 0.5 px."""
    if not wide.size:
        return float("nan")
    part = lines[:, wide]
    first = part.argmax(axis=0)
    last = part.shape[0] - 1 - part[::-1].argmax(axis=0)
    return float(np.median((first + last) / 2.0))


def crystal_mask(masks: dict[str, np.ndarray]) -> np.ndarray:
    """The crystal mask without its connected blobs that are mostly ice (more than ``MAX_ICE_SHARE``
    of their pixels also labelled ice): ice in the loop looks like a crystal, and centring on it is a
    confident move to the wrong place. A crystal that ice partly covers keeps all its pixels."""
    crystal, ice = masks["crystal"], masks.get("ice")
    box = _extent(crystal)
    if box is None or ice is None or not ice[box].any():
        return crystal
    labels, count = ndimage.label(crystal[box])
    index = np.arange(1, count + 1)
    ice_share = ndimage.mean(ice[box], labels, index)
    kept = crystal.copy()
    kept[box] &= np.isin(labels, index[ice_share <= MAX_ICE_SHARE])
    return kept


def _outline(mask: np.ndarray, beyond: bool = False) -> np.ndarray:
    """Pixels of ``mask`` with a 4-neighbour outside it (the mask's edge); pixels beyond the array
    count as ``beyond`` (True: a mask cut by the array's border has no edge there)."""
    padded = np.pad(mask, 1, constant_values=beyond)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~interior


def iced_outline(loop: np.ndarray, ice: np.ndarray | None, box: tuple[slice, slice] | None = None) -> tuple[float, float]:
    """(share of the loop's outline pixels labelled ice, share labelled ice and within
    ``ICE_EDGE_REACH_PX`` of the ice's outline); (0, 0) without a loop or without ice on it.

    Exact masks of a loop under an ice crust put the loop's edge inside the ice (the wire's edge; the
    crust reaches beyond it): the first share is large, the second small. A segmenter that cannot tell
    the crust from the wire draws the loop to the crust's outer edge, so its edge runs along the
    ice's edge and both are large. On the shipped network's masks of seeds 1000-1091 of the centring
    benchmark (12 views each after the plan, medians): every sample with a crust 0.33-0.86 and
    0.12-0.68 (its loop centres off by 2-15 px), none without one above 0.24 and 0.14; with exact masks
    the second share is at most 0.02, crust or not. ``box`` is the loop's extent when already known."""
    box = box or _extent(loop)
    if box is None or ice is None:
        return 0.0, 0.0
    margin = ICE_EDGE_REACH_PX + 1  # the ice's edge just past the loop must stay inside the crop
    box = tuple(slice(max(part.start - margin, 0), part.stop + margin) for part in box)
    loop, ice = loop[box], ice[box]
    if not ice.any():
        return 0.0, 0.0
    edge = _outline(loop, beyond=True)  # where the image's border cuts the loop is not its edge
    count = float(edge.sum())
    if count == 0:
        return 0.0, 0.0
    on_ice = edge & ice
    ice_edge = ndimage.binary_dilation(_outline(ice, beyond=True), iterations=ICE_EDGE_REACH_PX)
    return float(on_ice.sum()) / count, float((on_ice & ice_edge).sum()) / count


def frame_features(prediction: Prediction, omega_deg: float, spindle: str = "horizontal") -> FrameFeatures:
    """Features of one frame. The loop target is the loop centre: across the spindle, the median
    midpoint of the lines through its wide part; along it, the width-weighted centre of that part
    (both exact for a symmetric loop, and robust where the loop's far end merges with the stem). The crystal target is
    the centroid of the crystal mask less its blobs that are mostly ice. Only the labelled part of
    the frame is read (``Prediction.region``: a tracked frame's window), nothing being seen outside it."""
    top, left, rows, cols = prediction.region()
    frame_rows, frame_cols = prediction.shape
    masks = {notion: mask[top : top + rows, left : left + cols] for notion, mask in prediction.masks.items()}
    loop, foreground = masks["loop"], masks["foreground"]
    loop_area = float(loop.sum())
    present = bool(prediction.present and loop_area >= MIN_TARGET_AREA_PX)
    target_px = NAN_POINT
    crystal = crystal_mask(masks)
    crystal_area = float(crystal.sum())
    crystal_px = _centroid(crystal) if present and crystal_area >= MIN_CRYSTAL_AREA_PX else NAN_POINT
    on_ice, along_ice_edge = 0.0, 0.0
    if present:
        box = _extent(loop)
        lines, width, wide = _wide_part(loop[box], spindle)
        along = _along_centre(width, wide) + box[1 if spindle == "horizontal" else 0].start
        across = _across_centre(lines, wide) + box[0 if spindle == "horizontal" else 1].start
        target_px = (across, along) if spindle == "horizontal" else (along, across)
        on_ice, along_ice_edge = iced_outline(loop, masks.get("ice"), box)
    frame_sides = (top == 0, top + rows == frame_rows, left == 0, left + cols == frame_cols)

    def in_frame(point: tuple[float, ...]) -> tuple[float, ...]:
        return tuple(value + (top, left)[k % 2] for k, value in enumerate(point))

    return FrameFeatures(
        omega_deg=float(omega_deg),
        present=present,
        target="loop" if present else "",
        target_px=in_frame(target_px),
        bbox_px=in_frame(_bbox(loop)),
        area_px=loop_area,
        centroid_px=in_frame(_centroid(loop)),
        tip_px=_tip(foreground, spindle) if prediction.labelled_region is None else NAN_POINT,
        click_px=prediction.click if prediction.click is not None else NAN_POINT,
        foreground_area_px=float(foreground.sum()),
        problem=prediction.problem or "",
        crystal_px=in_frame(crystal_px),
        crystal_area_px=crystal_area,
        loop_touches_edge=present and _touches_edge(loop, frame_sides),
        loop_edge_on_ice=on_ice,
        loop_edge_along_ice_edge=along_ice_edge,
        unsure_reason=prediction.unsure_reason,
    )
