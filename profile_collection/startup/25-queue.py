"""mxsight start-up, 4 of 5: the form in which bluesky-queueserver runs ``multi_orientation_collection``.

The queue server checks each queued item's parameters against the plan's annotations, which must be
plain types it can read, and reports each plan's return value, which must be small: this gives the plan
plain annotations (orientations as a list of ``{"kappa_deg": ..., "phi_deg": ...}`` tables) and returns
the outcome's summary, leaving the plan in ``mxsight.plans`` free of queue concerns. At the IPython
prompt the plan behaves the same, returning the summary instead of the full outcome.
"""

import functools

from bluesky_queueserver import parameter_annotation_decorator

_full_multi_orientation_collection = multi_orientation_collection  # noqa: F821  (20-plans.py)


@parameter_annotation_decorator(
    {
        "description": "Mount a sample, then centre, find the raster extents and collect at each kappa/phi orientation.",
        "parameters": {
            "sample_id": {"description": "pin (sample) id, mounted by sample_changer", "annotation": "str"},
            "orientations": {"description": "list of {'kappa_deg': K, 'phi_deg': P}", "annotation": "typing.List[typing.Dict[str, float]]"},
            "segmenter": {"description": "None: the shipped network", "annotation": "typing.Any"},
            "geometry": {"description": "None: this beamline's spindle (the profile's geometry)", "annotation": "typing.Any"},
            "md": {"description": "extra start-document keys, e.g. {'puck': 'P3'}", "annotation": "typing.Any"},
        },
    }
)
@functools.wraps(_full_multi_orientation_collection)
def multi_orientation_collection(*args, **kwargs):
    if kwargs.get("geometry") is None:
        kwargs["geometry"] = geometry  # noqa: F821  (20-plans.py: this beamline's spindle)
    outcome = yield from _full_multi_orientation_collection(*args, **kwargs)
    return outcome.summary()
