"""The simulated beamline over EPICS Channel Access: ``mxsight ioc`` in a child process on a private
loopback port, driven through the EPICS devices (motor records, zoom, areaDetector camera) by the plans
users run."""

import contextlib
import dataclasses
import hashlib
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mxsight.devices.sim import make_sim_beamline
from mxsight.ioc.launch import load_served_beamline, served_beamline
from mxsight.plans.auto_centre import auto_centre
from mxsight.plans.errors import AlignmentError
from mxsight.plans.sweeps import FINE_SWEEP, Sweep
from mxsight.storage.queries import find_alignments

CONFIG = Path(__file__).parents[1] / "configs" / "sim-epics"
TRANSLATIONS = ("omega", "centring_x", "centring_y", "alignment_y", "alignment_z")


def _beamline_file(folder: Path) -> Path:
    text = (CONFIG / "beamline.toml").read_text()
    (folder / "zoom.toml").write_text((CONFIG / "zoom.toml").read_text())
    path = folder / "beamline.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiled):
    folder = tmp_path_factory.mktemp("ioc")
    path = _beamline_file(folder)
    with served_beamline(path, folder / "ioc.log"):
        yield load_served_beamline(path, tiled.frames_directory), path


def _mount(beamline, path: Path, seed: int) -> None:
    """Mount the simulator's random sample of ``seed`` over EPICS and wait for the motors' readbacks."""
    from ophyd import EpicsSignal

    control = EpicsSignal(f"{load_prefix(path)}Seed", name="seed")
    control.wait_for_connection(timeout=5)
    control.put(seed, wait=True)
    deadline = time.monotonic() + 5
    while any(abs(getattr(beamline.goniometer, name).position) > 1e-9 for name in TRANSLATIONS):
        assert time.monotonic() < deadline, "the motors did not return to zero after mounting"
        time.sleep(0.02)


def load_prefix(path: Path) -> str:
    import tomllib

    epics = tomllib.loads(path.read_text())["epics"]
    return epics.get("control_prefix", f"{epics['camera_prefix']}SIM:")


def _errors_um(beamline, seed: int, target: str, directory) -> dict[str, float]:
    """How far the true target of sample ``seed`` is from the beam at the EPICS motors' readbacks."""
    truth = make_sim_beamline(seed=seed, write_directory=directory)
    for name in TRANSLATIONS:
        getattr(truth.goniometer, name).set(getattr(beamline.goniometer, name).position)
    return truth.target_errors_um(target)


class ServedFrames:
    """Digests of every frame the IOC publishes, seen by an independent Channel Access client."""

    def __init__(self, pv_name: str):
        from caproto.threading.client import Context

        self.digests: set[str] = set()
        self._context = Context()
        (self._pv,) = self._context.get_pvs(pv_name, timeout=5)
        self._pv.wait_for_connection(timeout=5)
        self._subscription = self._pv.subscribe(data_type="native")
        self._lock = threading.Lock()
        self._subscription.add_callback(self._seen)

    def _seen(self, subscription, response) -> None:
        with self._lock:
            self.digests.add(hashlib.sha1(np.asarray(response.data, dtype=np.uint8).tobytes()).hexdigest())

    def close(self) -> None:
        self._subscription.clear()
        self._context.disconnect()


def test_auto_centre_over_channel_access_centres_seeded_samples_and_records_served_frames(served, RE, tiled, tmp_path):
    beamline, path = served
    served_frames = ServedFrames("SIM:OAV:image1:ArrayData")
    try:
        for seed in (21, 22, 23, 24, 25):
            _mount(beamline, path, seed)
            result = RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id=f"ca-{seed}", beamline=beamline.name))
            errors = _errors_um(beamline, seed, result.plan_result.target, tmp_path)
            assert errors["from_beam_um"] < 10.0, (seed, errors)
            if seed == 21:
                time.sleep(0.5)  # the last frames' monitor updates
                run = tiled.client[list(find_alignments(tiled.client, sample_id="ca-21"))[0]]
                frames = run["primary"]["oav_image"].read()
                digests = {hashlib.sha1(np.ascontiguousarray(frame).tobytes()).hexdigest() for frame in frames}
                assert len(digests) == len(frames) >= 12
                assert digests <= served_frames.digests  # every recorded frame is one the IOC served
                assert run.metadata["start"]["beamline"] == "sim-epics"
                exposure = np.asarray(run["primary"]["oav_exposure_time"].read())
                assert np.all(np.diff(exposure) > 0)
    finally:
        served_frames.close()


def test_zoom_over_epics_moves_the_optics_and_the_plans_pixel_size_together(served, RE):
    import bluesky.plan_stubs as bps

    from mxsight.vision.segmenter import Segmenter

    beamline, path = served
    _mount(beamline, path, 21)
    segmenter = Segmenter.default()
    sizes = {}
    for level in (5, 7):
        RE(bps.mv(beamline.zoom, level))
        assert beamline.zoom.positioner.position == level
        assert beamline.zoom.pixel_size_um.get() == beamline.zoom.calibration[level].pixel_size_um
        beamline.camera.stage()
        try:
            beamline.camera.trigger().wait(10)
        finally:
            beamline.camera.unstage()
        pin = segmenter.predict(beamline.camera.last_frame).masks["pin"]
        rows = np.flatnonzero(pin.any(axis=1))
        sizes[level] = rows[-1] - rows[0]  # the pin's width across the spindle, in pixels
    RE(bps.mv(beamline.zoom, 5))
    expected = beamline.zoom.calibration[5].pixel_size_um / beamline.zoom.calibration[7].pixel_size_um
    assert sizes[7] / sizes[5] == pytest.approx(expected, rel=0.1)


def test_motor_records_refuse_targets_beyond_their_soft_limits(served):
    from ophyd.utils.errors import LimitError

    beamline, _ = served
    centring_x = beamline.goniometer.centring_x
    assert centring_x.limits == (-2.0, 2.0)
    with pytest.raises(LimitError):
        centring_x.set(2.5)
    assert centring_x.position == 0.0
    centring_x.velocity.put(1.0, wait=True)
    try:
        centring_x.stop()  # STOP at rest (as the RunEngine does after a failed plan) is momentary:
        centring_x.set(0.1).wait(5)  # the next move still happens
        assert centring_x.position == pytest.approx(0.1)
        centring_x.set(0.0).wait(5)
    finally:
        centring_x.velocity.put(0.0, wait=True)


def test_continuous_rotation_records_omega_at_exposure(served, RE, tiled):
    from ophyd import EpicsSignalRO

    beamline, path = served
    _mount(beamline, path, 22)
    omega = beamline.goniometer.omega
    moves = []
    done_moving = EpicsSignalRO("SIM:GONIO:Omega.DMOV", name="dmov")
    done_moving.wait_for_connection(timeout=5)
    done_moving.subscribe(lambda value, timestamp, **_: moves.append(timestamp) if value == 0 else None, run=False)
    omega.velocity.put(30.0, wait=True)  # the served motors move instantly until given a speed
    try:
        sweep = Sweep(continuous=True, span_deg=360.0, limits=dataclasses.replace(FINE_SWEEP.limits, min_frames=4))
        with contextlib.suppress(AlignmentError):  # whether a few frames centre is not what is tested here
            RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="ca-continuous", sweeps=(sweep,), search=None))
    finally:
        omega.velocity.put(0.0, wait=True)
    run = tiled.client[list(find_alignments(tiled.client, sample_id="ca-continuous"))[0]]
    exposure = np.asarray(run["primary"]["oav_exposure_time"].read())
    recorded = np.asarray(run["primary"]["oav_exposure_omega_deg"].read())
    start = max(t for t in moves if t <= exposure[0])  # the turn: omega runs from 0 to 360 at 30 deg/s from here
    truth = np.clip(30.0 * (exposure - start), 0.0, 360.0)
    assert len(recorded) >= 4
    assert np.abs(recorded - truth).max() < 0.5, np.c_[recorded, truth]


def test_a_mirrored_camera_is_refused_until_calibrated_over_channel_access(served, RE, tiled, tmp_path):
    from ophyd import EpicsSignal

    from mxsight.devices.sim import true_calibration
    from mxsight.devices.zoom import ZoomCalibration, ZoomLevel
    from mxsight.plans.calibrate_camera import calibrate_camera
    from mxsight.plans.errors import CameraNotCalibrated
    from mxsight.sim.camera_mount import CameraMount

    beamline, path = served
    mount = EpicsSignal(f"{load_prefix(path)}Mount", name="mount", string=True)
    mount.wait_for_connection(timeout=5)
    calibrated = beamline.zoom.calibration
    truth = true_calibration(CameraMount.named("mirrored"))
    # what the beamline file says before calibration: the beam marker, nominal pixel sizes 3% off
    beamline.zoom.use_calibration(ZoomCalibration({key: ZoomLevel(1.03 * level.pixel_size_um, level.beam_position_px) for key, level in truth.levels.items()}))
    mount.put("mirrored", wait=True)
    try:
        _mount(beamline, path, 26)
        devices = (beamline.camera, beamline.goniometer, beamline.zoom)
        with pytest.raises(CameraNotCalibrated):
            RE(auto_centre(*devices, sample_id="ca-mirrored-uncalibrated"))
        calibration = RE(calibrate_camera(*devices, levels=[1, 5])).plan_result  # the coarse sweep's zoom and the fine one's
        assert calibration.geometry == truth.geometry
        assert calibration[5].pixel_size_um == pytest.approx(truth[5].pixel_size_um, rel=0.005)
        beamline.zoom.use_calibration(calibration)
        result = RE(auto_centre(*devices, sample_id="ca-mirrored", search=None))
        assert _errors_um(beamline, 26, result.plan_result.target, tmp_path)["from_beam_um"] < 10.0
    finally:
        mount.put("standard", wait=True)
        beamline.zoom.use_calibration(calibrated)


def test_the_cameras_hdf5_plugin_writes_exactly_the_triggered_frames(served, RE, tiled, tmp_path):
    import h5py

    beamline, path = served
    hdf5_file = path.with_name("beamline-hdf5.toml")
    hdf5_file.write_text(path.read_text().replace("[epics]\n", '[epics]\nhdf5_plugin = "HDF1:"\n'))
    hdf5_beamline = load_served_beamline(hdf5_file, tiled.frames_directory)
    camera = hdf5_beamline.camera
    served_frames = ServedFrames("SIM:OAV:image1:ArrayData")
    try:
        _mount(beamline, path, 27)
        result = RE(auto_centre(camera, hdf5_beamline.goniometer, hdf5_beamline.zoom, sample_id="ca-hdf5", beamline=hdf5_beamline.name))
        assert _errors_um(beamline, 27, result.plan_result.target, tmp_path)["from_beam_um"] < 10.0
        time.sleep(0.5)  # the last frames' monitor updates
        run = tiled.client[list(find_alignments(tiled.client, sample_id="ca-hdf5"))[0]]
        frames = np.asarray(run["primary"]["oav_image"].read())
        digests = [hashlib.sha1(np.ascontiguousarray(frame).tobytes()).hexdigest() for frame in frames]
        assert len(set(digests)) == len(frames) >= 12 and set(digests) <= served_frames.digests
        (source,) = run["primary"]["oav_image"].data_sources()
        with h5py.File(source.assets[0].data_uri.split("localhost", 1)[1], "r") as written:  # the IOC's file
            unique_ids = np.asarray(written["/entry/instrument/NDAttributes/NDArrayUniqueId"])
            assert len(unique_ids) == len(frames) and np.all(np.diff(unique_ids) > 0)
        exposure = np.asarray(run["primary"]["oav_exposure_time"].read())
        assert np.all(np.diff(exposure) > 0)
        assert (camera.image_mode.get(), int(camera.acquire.get())) == ("Continuous", 1)  # streaming again
    finally:
        served_frames.close()


def test_an_hdf5_plugin_that_cannot_write_is_named_and_the_camera_given_back(served, tmp_path):
    beamline, path = served
    hdf5_file = path.with_name("beamline-hdf5-nowhere.toml")
    nowhere = tmp_path / "not-on-the-ioc"
    hdf5_file.write_text(path.read_text().replace("[epics]\n", f'[epics]\nhdf5_plugin = "HDF1:"\nioc_write_directory = "{nowhere}"\n'))
    camera = load_served_beamline(hdf5_file, tmp_path).camera
    camera.control_timeout_s = 1.0
    with pytest.raises(RuntimeError, match="does not exist on the IOC"):
        camera.stage()
    assert (camera.image_mode.get(), int(camera.acquire.get())) == ("Continuous", 1)


def test_a_hung_camera_over_epics_times_out_by_name_and_nothing_moves(served, RE, tiled):
    from ophyd import EpicsSignal

    from mxsight.devices.camera import CameraTimeout

    beamline, path = served
    _mount(beamline, path, 28)
    stuck = EpicsSignal(f"{load_prefix(path)}Stuck", name="stuck")
    stuck.wait_for_connection(timeout=5)
    before = {name: getattr(beamline.goniometer, name).position for name in TRANSLATIONS}
    timeout_s, beamline.camera.new_frame_timeout_s = beamline.camera.new_frame_timeout_s, 0.5
    stuck.put(1, wait=True)
    try:
        with pytest.raises(CameraTimeout, match="no frame exposed after the trigger within 0.5 s"):
            RE(auto_centre(beamline.camera, beamline.goniometer, beamline.zoom, sample_id="ca-hung"))
    finally:
        stuck.put(0, wait=True)
        beamline.camera.new_frame_timeout_s = timeout_s
    assert {name: getattr(beamline.goniometer, name).position for name in TRANSLATIONS} == before
    (uid,) = list(find_alignments(tiled.client, sample_id="ca-hung"))
    assert tiled.client[uid].metadata["stop"]["reason"].startswith("CameraTimeout: oav: no frame exposed")
