"""Plans drive any device that follows the bluesky protocols: auto_centre on ophyd-async devices, which
have no ophyd v1 ``.position``, ``.get()`` or ``.limits``."""

from async_devices import async_beamline, follow_motors
from ophyd_async.plan_stubs import ensure_connected
from truth import TruthSegmenter

from mxsight.devices.sim import make_sim_beamline
from mxsight.plans.auto_centre import auto_centre
from mxsight.storage.queries import find_alignments


def test_auto_centre_with_ophyd_async_devices(RE, tiled):
    simulation = make_sim_beamline(seed=4, zoom_level=5, write_directory=tiled.frames_directory)
    camera, goniometer, zoom = async_beamline(simulation)
    RE(ensure_connected(camera, goniometer, zoom))
    for device in (goniometer.omega, goniometer.centring_x, zoom):
        assert not hasattr(device, "position") and not hasattr(device, "get")
    outcome = RE(auto_centre(camera, goniometer, zoom, sample_id="ophyd-async", segmenter=TruthSegmenter(simulation.camera))).plan_result
    assert outcome.solutions
    # the plan's moves went through the ophyd-async motors: the simulated sample follows them
    RE(follow_motors(goniometer, simulation))
    assert simulation.target_errors_um(outcome.target)["from_axis_um"] < 10.0
    run = tiled.client[list(find_alignments(tiled.client, sample_id="ophyd-async"))[0]]
    assert len(run["primary"]["oav_image"].read()) == outcome.frames
    assert list(run["results"]["results_outcome"].read())[-1] == "moved"
