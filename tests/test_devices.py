import time

import pytest
from ophyd.utils import LimitError

from mxsight.devices.goniometer import SimGoniometer
from mxsight.devices.zoom import Zoom, ZoomCalibration


def test_zoom_calibration_follows_the_level():
    zoom = Zoom(name="zoom", calibration=ZoomCalibration.simulated(), initial_level=1)
    assert zoom.pixel_size_um.get() == pytest.approx(5.0)
    zoom.set(10).wait(1)
    assert zoom.current.pixel_size_um == pytest.approx(0.5)
    assert (zoom.beam_position_row_px.get(), zoom.beam_position_col_px.get()) == (509.5, 682.5)
    with pytest.raises(ValueError, match="zoom level 11 is not calibrated"):
        zoom.set(11)


def test_zoom_calibration_file_errors_name_the_problem(tmp_path):
    path = tmp_path / "zoom.toml"
    path.write_text("[levels.1]\npixel_size_um = 2.0\n")
    with pytest.raises(ValueError, match=r"zoom.toml: \[levels.1\] needs beam_position_px$"):
        ZoomCalibration.from_file(path)
    path.write_text("not toml [")
    with pytest.raises(ValueError, match="cannot read zoom calibration"):
        ZoomCalibration.from_file(path)
    path.write_text('[levels.3]\npixel_size_um = 2.0\nbeam_position_px = [500, 600]\n')
    assert ZoomCalibration.from_file(path)[3].beam_position_px == (500.0, 600.0)


def test_goniometer_limits_and_realistic_motion():
    goniometer = SimGoniometer(name="gonio")
    with pytest.raises(LimitError):
        goniometer.centring_x.move(5.0)
    goniometer.set_velocities(omega_deg_s=None, translation_mm_s=2.0)
    started = time.monotonic()
    status = goniometer.alignment_y.set(0.5)
    assert not status.done
    status.wait(5)
    assert time.monotonic() - started == pytest.approx(0.25, abs=0.1)
    assert goniometer.alignment_y.position == 0.5
    assert goniometer.read()["gonio_alignment_y"]["value"] == 0.5


def test_epics_camera_takes_the_first_frame_exposed_after_the_trigger(tmp_path):
    import threading

    import numpy as np
    from ophyd.sim import make_fake_device

    from mxsight.devices.camera import CameraTimeout
    from mxsight.devices.epics_camera import EpicsOnAxisCamera

    FakeCamera = make_fake_device(EpicsOnAxisCamera)
    camera = FakeCamera("CAM:", name="oav", frame_shape=(4, 5), write_directory=tmp_path, new_frame_timeout_s=1.0)
    stale, fresh = np.zeros((4, 5, 3), np.uint8), np.arange(60, dtype=np.uint8).reshape(4, 5, 3)
    for signal, value in ((camera.rows, 4), (camera.columns, 5), (camera.image_mode, "Continuous"), (camera.acquire, 1), (camera.array_counter, 7)):
        signal.sim_put(value)
    camera.array_data.sim_put(stale.ravel())  # exposed before the trigger: never taken

    def new_frame_arrives():
        time.sleep(0.05)
        camera.array_data.sim_put(fresh.ravel())
        camera.array_counter.sim_put(8)

    camera.stage()
    try:
        threading.Thread(target=new_frame_arrives).start()
        started = time.monotonic()
        status = camera.trigger()
        assert not status.done  # the RunEngine is not blocked while the frame comes
        status.wait(2)
        assert time.monotonic() - started >= 0.04
        assert camera.frame_number.get() == 0
        assert camera.exposure_time.get() == camera.array_data.timestamp
        docs = list(camera.collect_asset_docs())
        assert [name for name, _ in docs] == ["stream_resource", "stream_datum"]
        with pytest.raises(CameraTimeout, match="no frame exposed after the trigger within 1.0 s"):
            camera.trigger().wait(3)
    finally:
        camera.unstage()
    from mxsight.devices.hdf5_store import read_frame

    assert np.array_equal(read_frame(docs[0][1]["uri"], docs[0][1]["parameters"]["dataset"], 0), fresh)


def test_masks_are_stored_compressed_and_read_back_exactly(tmp_path):
    import h5py
    import numpy as np

    from mxsight.devices.hdf5_store import Hdf5FrameStore, read_frame

    masks = np.zeros((200, 300), dtype=np.uint8)
    masks[50:150, 80:220] = 0b10000110  # loop, its inside and the foreground over a block
    store = Hdf5FrameStore(tmp_path, "predictions_masks", masks.shape, np.uint8, gzip_level=1)
    store.open()
    for _ in range(3):
        store.append(masks)
    resource = next(doc for name, doc in store.collect_asset_docs() if name == "stream_resource")
    store.close()
    assert np.array_equal(read_frame(resource["uri"], resource["parameters"]["dataset"], 2), masks)
    with h5py.File(store.path) as handle:
        dataset = handle[resource["parameters"]["dataset"]]
        assert dataset.compression == "gzip" and dataset.id.get_storage_size() < masks.nbytes / 20
    with pytest.raises(ValueError, match="gzip_level"):
        Hdf5FrameStore(tmp_path, "x", masks.shape, np.uint8, gzip_level=12)


def test_simulated_motion_speeds_up_slows_down_and_stands_still_while_frames_render():
    from mxsight.sim.clock import SimClock

    clock = SimClock()
    goniometer = SimGoniometer(name="gonio")
    goniometer.use_clock(clock)
    goniometer.set_velocities(omega_deg_s=None, translation_mm_s=2.0, acceleration_s=0.1)
    motor = goniometer.alignment_y
    started = time.monotonic()
    status = motor.set(0.5)  # 0.25 s at full speed, plus 0.1 s to speed up and slow down
    t0 = motor._motion[0]  # when the move began, on the clock
    assert motor.position_at(t0 + 0.05) == pytest.approx(2.0 * 0.05**2 / (2 * 0.1), abs=1e-9)  # still speeding up
    assert motor.position_at(t0 + 0.175) == pytest.approx(0.25, abs=1e-9)  # half way, at full speed
    with clock.paused():  # a frame being rendered: the beamline's time stands still
        time.sleep(0.2)
    status.wait(5)
    assert time.monotonic() - started == pytest.approx(0.35 + 0.2, abs=0.08)
    assert motor.position == 0.5
