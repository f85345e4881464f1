"""calibrate_camera: the camera's orientation and pixel size measured, not assumed. A mirrored or turned
simulated camera is refused until calibrated, then centred; the calibration file round-trips."""

import dataclasses

import numpy as np
import pytest
from truth import TruthSegmenter

from mxsight.beamline import load_beamline
from mxsight.devices.sim import make_sim_beamline, true_calibration
from mxsight.devices.zoom import ZoomCalibration, ZoomLevel
from mxsight.geometry.camera_calibration import CalibrationFailed, LevelShifts, level_calibration
from mxsight.plans.auto_centre import auto_centre
from mxsight.plans.calibrate_camera import calibrate_camera, save_camera_calibration
from mxsight.plans.errors import CameraNotCalibrated
from mxsight.sim.camera_mount import MOUNTS, CameraMount


def _model_shifts(mount: CameraMount, omega_deg: float, pixel_size_um: float = 2.0, step_mm: float = 0.2, turn_deg: float = 0.0, omega_sense: float = 1.0):
    """The shifts the movement model predicts for a camera mounted as ``mount`` (optionally turned
    further by ``turn_deg``, or with omega turning the other way)."""
    perpendicular_sign, along_sign = mount.signs()
    along, across = (1, 0) if mount.spindle == "horizontal" else (0, 1)
    omega = np.radians(omega_sense * omega_deg)
    step_px = 1000.0 * step_mm / pixel_size_um
    turn = np.radians(turn_deg)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])

    def vector(along_px, across_px):
        shift = np.zeros(2)
        shift[along], shift[across] = along_px, across_px
        return tuple(rotation @ shift)

    return LevelShifts(
        level=5,
        omega_deg=omega_deg,
        along_step_mm=step_mm,
        along_shift_px=vector(along_sign * step_px, 0.0),
        centring_step_mm=step_mm,
        centring_x_shift_px=vector(0.0, -perpendicular_sign * np.cos(omega) * step_px),
        centring_y_shift_px=vector(0.0, perpendicular_sign * np.sin(omega) * step_px),
    )


@pytest.mark.parametrize("name", sorted(MOUNTS))
def test_level_calibration_reads_every_mount(name):
    mount = MOUNTS[name]
    result = level_calibration(_model_shifts(mount, 45.0))
    assert (result.geometry.spindle, result.geometry.perpendicular_sign, result.geometry.along_sign) == (mount.spindle, *mount.signs())
    assert result.pixel_size_um == pytest.approx(2.0, rel=1e-9)


def test_level_calibration_refuses_what_the_model_cannot_describe():
    with pytest.raises(CalibrationFailed, match="deg off the image"):
        level_calibration(_model_shifts(MOUNTS["standard"], 45.0, turn_deg=10.0))
    with pytest.raises(CalibrationFailed, match="sense of omega"):
        level_calibration(_model_shifts(MOUNTS["standard"], 45.0, omega_sense=-1.0))
    shifts = _model_shifts(MOUNTS["standard"], 45.0)
    with pytest.raises(CalibrationFailed, match="not square"):
        level_calibration(dataclasses.replace(shifts, along_step_mm=1.05 * shifts.along_step_mm))


def _uncalibrated(mount: CameraMount) -> ZoomCalibration:
    """What a beamline file holds before calibration: the beam marker where the beam is, nominal pixel
    sizes 3% off, and no orientation."""
    truth = true_calibration(mount)
    levels = {key: ZoomLevel(1.03 * level.pixel_size_um, level.beam_position_px) for key, level in truth.levels.items()}
    return ZoomCalibration(levels)


@pytest.mark.parametrize("mount", ["mirrored", "rotated_90", "standard"])
def test_calibrate_camera_recovers_pixel_size_orientation_and_axis(RE, tiled, mount):
    beamline = make_sim_beamline(seed=3, zoom_level=5, write_directory=tiled.frames_directory, mount=mount, calibration=_uncalibrated(CameraMount.named(mount)))
    start = {name: getattr(beamline.goniometer, name).position for name in ("omega", "centring_x", "centring_y", "alignment_y")}
    calibration = RE(calibrate_camera(beamline.camera, beamline.goniometer, beamline.zoom, levels=[5])).plan_result
    truth = true_calibration(CameraMount.named(mount))
    assert calibration.geometry == truth.geometry
    assert calibration[5].pixel_size_um == pytest.approx(truth[5].pixel_size_um, rel=0.005)
    assert calibration[5].rotation_axis_px == pytest.approx(truth[5].rotation_axis_px, abs=0.5)
    assert calibration[7].pixel_size_um == pytest.approx(1.03 * truth[7].pixel_size_um)  # not measured: kept
    assert calibration.calibrated.startswith("calibrate_camera")
    assert {name: getattr(beamline.goniometer, name).position for name in start} == start
    run = tiled.client.values().last()
    assert run.metadata["start"]["plan_name"] == "calibrate_camera"
    assert list(run["calibration"]["calibration_outcome"].read()) == ["measured"]
    assert len(run["primary"]["oav_image"].read()) == 11


def test_mirrored_camera_is_refused_until_calibrated_then_centred(RE, tiled, tmp_path):
    mount = CameraMount.named("mirrored")
    beamline = make_sim_beamline(seed=2, zoom_level=5, write_directory=tiled.frames_directory, mount=mount, calibration=_uncalibrated(mount))
    devices = (beamline.camera, beamline.goniometer, beamline.zoom)
    with pytest.raises(CameraNotCalibrated, match="never measured"):
        RE(auto_centre(*devices, sample_id="mirrored-uncalibrated", segmenter=TruthSegmenter(beamline.camera)))
    assert beamline.goniometer.centring_x.position == 0.0
    calibration = RE(calibrate_camera(*devices, levels=[1, 5])).plan_result
    path = save_camera_calibration(calibration, tmp_path / "zoom.toml", zoom=beamline.zoom)
    assert ZoomCalibration.from_file(path) == ZoomCalibration.from_table(__import__("tomllib").loads(calibration.to_toml()))
    outcome = RE(auto_centre(*devices, sample_id="mirrored-calibrated", segmenter=TruthSegmenter(beamline.camera))).plan_result
    assert outcome.solutions
    assert beamline.target_errors_um(outcome.target)["from_axis_um"] < 10.0
    run = tiled.client.values().last()
    assert run.metadata["start"]["perpendicular_sign"] == -1.0
    assert run.metadata["start"]["camera_calibrated"] == calibration.calibrated


def test_a_simulated_beamline_file_names_its_camera_mount_and_calibration(tmp_path):
    mount = CameraMount.named("rotated_90")
    (tmp_path / "zoom.toml").write_text(_uncalibrated(mount).to_toml())
    (tmp_path / "beamline.toml").write_text(
        '[beamline]\nkind = "simulated"\nname = "turned"\n[simulated]\nseed = 1\ncamera_mount = "rotated_90"\nzoom_calibration = "zoom.toml"\n'
    )
    beamline = load_beamline(tmp_path / "beamline.toml", tmp_path)
    assert beamline.camera.frame_shape == (1360, 1024)
    assert beamline.zoom.calibration.calibrated == ""
    assert beamline.calibration_file == tmp_path / "zoom.toml"
    with pytest.raises(ValueError, match=r"\[simulated\] camera_mount must be .*'standard' or 'transposed', got 'sideways'"):
        load_beamline({"beamline": {"kind": "simulated"}, "simulated": {"camera_mount": "sideways"}}, tmp_path)


@pytest.mark.parametrize("name", sorted(MOUNTS))
def test_a_camera_mount_moves_images_and_points_alike(name):
    mount, shape = MOUNTS[name], (6, 9)
    standard = np.zeros(shape)
    standard[1, 7] = 1.0
    mounted = mount.image(standard)
    assert mounted.shape == mount.shape(shape)
    assert tuple(np.argwhere(mounted)[0]) == mount.point((1, 7), shape)
    assert mount.standard_point(mount.point((1.5, 7.25), shape), shape) == (1.5, 7.25)
