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
    with pytest.raises(ValueError, match="zoom level '1' needs pixel_size_um and beam_position_px"):
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
