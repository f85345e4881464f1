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
            "geometry": {"description": "None: the camera's calibrated orientation (calibrate_camera)", "annotation": "typing.Any"},
            "sweeps": {"description": "None: this beamline's sweeps and confidence limits", "annotation": "typing.Any"},
            "uncalibrated": {"description": "'refuse' (a camera never calibrated) or 'allow'", "annotation": "str"},
            "md": {"description": "extra start-document keys, e.g. {'puck': 'P3'}", "annotation": "typing.Any"},
        },
    }
)
@functools.wraps(_full_multi_orientation_collection)
def multi_orientation_collection(*args, **kwargs):
    if kwargs.get("sweeps") is None:
        kwargs["sweeps"] = beamline.sweeps  # noqa: F821  (10-beamline.py: its [alignment] limits)
    outcome = yield from _full_multi_orientation_collection(*args, **kwargs)
    return outcome.summary()
