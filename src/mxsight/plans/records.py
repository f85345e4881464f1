"""A readable that turns a dict of plain values into one event, for streams such as ``results``."""

from __future__ import annotations

import time

import numpy as np

from mxsight.plans.reads import read_zoom


class RecordReadable:
    """Bluesky-readable record of plain values (numbers, booleans, strings or small arrays).

    The keys are fixed by ``template`` (one stream needs one schema); ``update`` replaces values, and
    keys not updated keep the template's value (NaN, say) so a failed pass still fits the schema.
    """

    parent = None

    def __init__(self, name: str, template: dict[str, object]):
        self.name = name
        self._template = {f"{name}_{key}": value for key, value in template.items()}
        self._values = dict(self._template)
        self._timestamp = time.time()

    def update(self, values: dict[str, object]) -> "RecordReadable":
        unknown = set(values) - {key.removeprefix(f"{self.name}_") for key in self._template}
        if unknown:
            raise KeyError(f"{self.name}: keys {sorted(unknown)} are not in this record's schema")
        self._values = dict(self._template)
        self._values.update({f"{self.name}_{key}": value for key, value in values.items()})
        self._timestamp = time.time()
        return self

    def read(self) -> dict[str, dict]:
        return {key: {"value": value, "timestamp": self._timestamp} for key, value in self._values.items()}

    def describe(self) -> dict[str, dict]:
        return {key: _describe(value, source=f"mxsight:{self.name}") for key, value in self._values.items()}


def _describe(value: object, source: str) -> dict:
    if isinstance(value, str):
        return {"source": source, "dtype": "string", "shape": [], "dtype_numpy": "<U0"}
    if isinstance(value, (bool, np.bool_)):
        return {"source": source, "dtype": "boolean", "shape": [], "dtype_numpy": "|b1"}
    if isinstance(value, (int, np.integer)):
        return {"source": source, "dtype": "integer", "shape": [], "dtype_numpy": "<i8"}
    if isinstance(value, (float, np.floating)):
        return {"source": source, "dtype": "number", "shape": [], "dtype_numpy": "<f8"}
    array = np.asarray(value)
    return {"source": source, "dtype": "array", "shape": list(array.shape), "dtype_numpy": array.dtype.str}


def alignment_metadata(plan_name: str, sample_id: str, zoom, geometry, beamline: str | None):
    """The start-document keys every alignment plan records, so runs can be queried alike (plan:
    reads the zoom through the RunEngine; returns the dict): the zoom's calibration, the camera's
    orientation (``geometry``) and where that calibration came from. ``beamline`` None leaves the
    beamline's name to the RunEngine's metadata (``RE.md["beamline"]``, set by the IPython profile)."""
    zoom_level, level = yield from read_zoom(zoom)
    return {
        "plan_name": plan_name,
        "sample_id": sample_id,
        **({"beamline": beamline} if beamline is not None else {}),
        "zoom": zoom_level,
        "pixel_size_um": level.pixel_size_um,
        "beam_position_px": list(level.beam_position_px),
        "spindle": geometry.spindle,
        "perpendicular_sign": geometry.perpendicular_sign,
        "along_sign": geometry.along_sign,
        "camera_calibrated": zoom.calibration.calibrated,
    }
