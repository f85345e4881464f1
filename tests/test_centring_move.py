import numpy as np
import pytest

from mxsight.geometry.centring import CentringGeometry, centring_move
from mxsight.geometry.circle import fit_circle


def _observe(u_mm, w_mm, x_mm, z_align_mm, omega_deg, pixel_mm, beam, spindle, s_v=1.0, s_h=1.0):
    """Image coordinates of a point following the convention documented in geometry.centring."""
    omega = np.deg2rad(omega_deg)
    v = beam[0 if spindle == "horizontal" else 1] - s_v * (z_align_mm + u_mm * np.cos(omega) - w_mm * np.sin(omega)) / pixel_mm
    h = beam[1 if spindle == "horizontal" else 0] + s_h * x_mm / pixel_mm
    return v, h


@pytest.mark.parametrize("spindle,s_v,s_h", [("horizontal", 1.0, 1.0), ("vertical", -1.0, 1.0), ("horizontal", -1.0, -1.0)])
def test_move_cancels_the_offset(spindle, s_v, s_h):
    pixel_um, beam = 1.8, (512.0, 680.0)
    u, w, x, z = 0.12, -0.07, 0.31, 0.02
    omega = np.arange(0, 360, 30.0)
    v, h = _observe(u, w, x, z, omega, pixel_um / 1000, beam, spindle, s_v, s_h)
    geometry = CentringGeometry(spindle=spindle, perpendicular_sign=s_v, along_sign=s_h)
    move = centring_move(fit_circle(omega, v), float(h), 0.0, beam, pixel_um, geometry)
    assert move.centring_x_mm == pytest.approx(-u, abs=1e-9)
    assert move.centring_y_mm == pytest.approx(-w, abs=1e-9)
    assert move.alignment_y_mm == pytest.approx(-x, abs=1e-9)
    assert move.alignment_z_mm == pytest.approx(-z, abs=1e-9)


def test_unknown_spindle_is_rejected():
    with pytest.raises(ValueError, match="spindle must be"):
        CentringGeometry(spindle="diagonal")
