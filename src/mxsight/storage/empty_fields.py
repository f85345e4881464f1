"""Empty fields recorded by ``record_empty_fields``, read back from Tiled for the camera and segmenters.

    >>> camera.empty_fields = load_empty_fields(catalog, beamline="PX2")

The latest run of the plan for the beamline gives each zoom level's field: the per-pixel median of
its frames. A beamline that records its fields again (a new lamp, a new camera) uses the new ones from
then on; older runs stay queryable.
"""

from __future__ import annotations

import numpy as np
from tiled.queries import Key

PLAN_NAME = "record_empty_fields"


class EmptyFieldsNotRecorded(LookupError):
    """No ``record_empty_fields`` run in the catalog for the beamline."""


def load_empty_fields(catalog, *, beamline: str | None = None, image_key: str = "oav_image") -> dict[int, np.ndarray]:
    """{zoom level: RGB uint8 empty field} from the latest ``record_empty_fields`` run in
    ``catalog`` (for ``beamline`` when given); raises ``EmptyFieldsNotRecorded`` naming what was
    searched when there is none."""
    runs = catalog.search(Key("start.plan_name") == PLAN_NAME)
    if beamline is not None:
        runs = runs.search(Key("start.beamline") == beamline)
    if len(runs) == 0:
        where = f" for beamline {beamline!r}" if beamline is not None else ""
        raise EmptyFieldsNotRecorded(f"no {PLAN_NAME} run{where} in the catalog: record the empty fields first (RE({PLAN_NAME}(...)))")
    run = max(runs.values(), key=lambda node: node.metadata["start"]["time"])
    primary = run["primary"]
    if image_key not in primary:
        raise KeyError(f"run {run.metadata['start']['uid']}: no {image_key!r} in its primary stream; give image_key")
    levels = np.asarray(primary["zoom_level"].read(), dtype=int)
    frames = primary[image_key]
    return {int(level): np.median(np.stack([np.asarray(frames[int(i)]) for i in np.flatnonzero(levels == level)]), axis=0).astype(np.uint8) for level in np.unique(levels)}
