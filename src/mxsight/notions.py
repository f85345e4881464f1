"""The pixel classes ("notions") that mxsight labels, shared by the simulator, segmenters and storage."""

import numpy as np

NOTIONS: tuple[str, ...] = (
    "crystal",
    "loop_inside",
    "loop",
    "stem",
    "pin",
    "capillary",
    "ice",
    "foreground",
)


def notion_bit(notion: str) -> int:
    """Bit value of ``notion`` in the uint8 bit-flag masks that are recorded per frame."""
    try:
        return 1 << NOTIONS.index(notion)
    except ValueError:
        raise ValueError(f"unknown notion {notion!r}; known notions are {', '.join(NOTIONS)}") from None


def pack_masks(masks: dict[str, np.ndarray]) -> np.ndarray:
    """Pack boolean masks (notion -> HxW bool) into one HxW uint8 array of bit flags."""
    shape = next(iter(masks.values())).shape
    packed = np.zeros(shape, dtype=np.uint8)
    for notion, mask in masks.items():
        mask = np.asarray(mask, dtype=bool)
        np.bitwise_or(packed, mask.view(np.uint8) << np.uint8(notion_bit(notion).bit_length() - 1), out=packed)
    return packed


def unpack_masks(packed: np.ndarray) -> dict[str, np.ndarray]:
    """Inverse of :func:`pack_masks`: HxW uint8 bit flags -> notion -> HxW bool."""
    return {notion: (packed & notion_bit(notion)) != 0 for notion in NOTIONS}
