"""mxsight start-up, 5 of 5: looking at the last alignment as figures, read back from Tiled."""

from mxsight.report import alignment_figure, raster_figure


def last_run(plan_name: str = "auto_centre"):
    """The most recent run of ``plan_name`` in the catalog."""
    runs = find_alignments(catalog, plan_name=plan_name)  # noqa: F821  (20-plans.py, 00-base.py)
    if len(runs) == 0:
        raise LookupError(f"no {plan_name} run recorded yet")
    return runs.values().last()


def show_last_alignment():
    """Frames of the last auto_centre with their masks, and each sweep's fitted movement model."""
    return alignment_figure(last_run("auto_centre"))


def show_last_raster():
    """Face-on and edge-on frames of the last raster_extents with their grids, and the area fit."""
    return raster_figure(last_run("raster_extents"))


def calibrate_and_save(**kwargs):
    """``calibrate_camera`` on this beamline (keyword arguments go to it); the new calibration is used
    from now on and written over the beamline file's zoom calibration, when it names one."""
    calibration = RE(calibrate_camera(camera, gonio, zoom, **kwargs)).plan_result  # noqa: F821  (00-base.py, 10-beamline.py)
    if beamline.calibration_file is None:  # noqa: F821
        zoom.use_calibration(calibration)  # noqa: F821
        print("this beamline names no zoom calibration file: the new calibration holds until the session ends")
    else:
        print(f"calibration written to {save_camera_calibration(calibration, beamline.calibration_file, zoom=zoom)}")  # noqa: F821
    return calibration


print(
    f"mxsight ready on {beamline.name}: RE(auto_centre(camera, gonio, zoom, sample_id='...')), calibrate_and_save(), "  # noqa: F821
    f"raster_extents, click_centre, multi_orientation_collection; show_last_alignment(); Tiled at {tiled.address}"  # noqa: F821
)
