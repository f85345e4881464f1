"""The simulated beamline: goniometer, zoom and a camera that renders the sample where the motors put it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mxsight.devices.goniometer import SimGoniometer
from mxsight.devices.sim_camera import FAULTS, SimOnAxisCamera
from mxsight.devices.zoom import Zoom, ZoomCalibration, ZoomLevel
from mxsight.geometry.centring import CentringGeometry
from mxsight.sim.backgrounds import BACKGROUND_SETS
from mxsight.sim.camera_mount import CameraMount, mount_for
from mxsight.sim.clock import SimClock
from mxsight.sim.projection import CAMERA_SHAPE_PX, sample_point_lab_mm, sample_point_rotating_mm
from mxsight.sim.scene import Sample, random_sample

__all__ = ["FAULTS", "RealisticMotion", "SimBeamline", "SimOnAxisCamera", "make_sim_beamline", "true_calibration"]


@dataclass(frozen=True)
class RealisticMotion:
    """Speeds of a fast MX beamline: motors and zoom take time to move and the camera streams at a
    fixed rate, so plans can be timed as at a beamline."""

    omega_deg_s: float = 180.0
    translation_mm_s: float = 1.0
    acceleration_s: float = 0.1  # to full speed and back to rest, at either end of every move
    zoom_levels_s: float = 5.0
    frame_rate_hz: float = 30.0


def true_calibration(mount: CameraMount) -> ZoomCalibration:
    """The simulator's optics as a camera with ``mount`` sees them: pixel sizes, beam positions, the
    rotation axis (on the beam) and the camera's orientation, exact."""
    standard = ZoomCalibration.simulated()
    perpendicular_sign, along_sign = mount.signs()
    levels = {}
    for key, level in standard.levels.items():
        beam = mount.point(level.beam_position_px, CAMERA_SHAPE_PX)
        axis = beam[0] if mount.spindle == "horizontal" else beam[1]
        levels[key] = ZoomLevel(level.pixel_size_um, beam, rotation_axis_px=axis)
    geometry = CentringGeometry(spindle=mount.spindle, perpendicular_sign=perpendicular_sign, along_sign=along_sign)
    return ZoomCalibration(levels, geometry=geometry, calibrated="the simulator's own optics")


@dataclass
class SimBeamline:
    """A goniometer, zoom and camera around one simulated sample."""

    goniometer: SimGoniometer
    zoom: Zoom
    camera: SimOnAxisCamera
    sample: Sample | None

    def _require_sample(self) -> Sample:
        if self.sample is None:
            raise ValueError("the simulated beamline has no sample")
        return self.sample

    def loop_centre_rotating_mm(self) -> np.ndarray:
        """(x, u, w) in mm of the true loop centre on the omega stage: after kappa and phi, before the
        centring motors (what centring_x / centring_y must cancel to put it on the rotation axis)."""
        return sample_point_rotating_mm(self._require_sample().loop_centre_rotating_mm(), self.camera.positions())

    def loop_centre_lab_mm(self) -> np.ndarray:
        """Lab (X along the spindle, Y towards the camera, Z up; mm, beam at the origin) of the true
        loop centre at the goniometer's current positions."""
        return sample_point_lab_mm(self._require_sample().loop_centre_rotating_mm(), self.camera.positions())

    def crystal_or_loop_centre_lab_mm(self) -> np.ndarray:
        """Lab position (mm, beam at the origin) of the crystal's centre, or of the loop centre when the
        sample has no crystal: where a raster should find diffraction after any reorientation."""
        sample = self._require_sample()
        crystal = sample.crystal_centre_rotating_mm()
        point = sample.loop_centre_rotating_mm() if crystal is None else crystal
        return sample_point_lab_mm(point, self.camera.positions())

    def loop_centre_errors_um(self) -> dict[str, float]:
        """How far the true loop centre is from the rotation axis and from the beam, in micrometres
        (kappa and phi included: it stays right after a reorientation)."""
        return self.point_errors_um(self._require_sample().loop_centre_rotating_mm())

    def target_errors_um(self, target: str) -> dict[str, float]:
        """Errors of what a plan centred: the crystal's centre for "crystal", else the loop centre."""
        crystal = self._require_sample().crystal_centre_rotating_mm()
        if target == "crystal" and crystal is not None:
            return self.point_errors_um(crystal)
        return self.loop_centre_errors_um()

    def point_errors_um(self, point_sample_mm) -> dict[str, float]:
        """How far a sample point (x, u, w in mm in the sample's own frame) is from the rotation axis and
        from the beam, in micrometres, at the current motor positions (kappa and phi included)."""
        g = self.goniometer
        x, u, w = sample_point_rotating_mm(point_sample_mm, self.camera.positions())
        from_axis = np.hypot(u + g.centring_x.position, w + g.centring_y.position)
        along = x + g.alignment_y.position
        axis_height = g.alignment_z.position
        return {
            "from_axis_um": 1000.0 * float(from_axis),
            "along_spindle_um": 1000.0 * float(along),
            "axis_height_um": 1000.0 * float(axis_height),
            "from_beam_um": 1000.0 * float(np.sqrt(from_axis**2 + along**2 + axis_height**2)),
        }


def make_sim_beamline(
    *,
    seed: int = 0,
    sample: Sample | None | str = "random",
    zoom_level: int = 5,
    write_directory: Path | str,
    realistic_motion: bool | RealisticMotion = False,
    background_set: str | None = None,
    spindle: str = "horizontal",
    mount: CameraMount | str | None = None,
    calibration: ZoomCalibration | None = None,
) -> SimBeamline:
    """A simulated beamline. ``sample="random"`` draws one from ``seed``; None gives an empty pin-less
    field. ``spindle="vertical"`` turns the camera by 90 degrees (the "transposed" ``mount``); ``mount``
    turns or mirrors it otherwise. The zoom holds ``calibration`` (what plans believe) when given, else
    the simulator's true one as this camera sees it, marked as calibrated."""
    if isinstance(sample, str):
        if sample != "random":
            raise ValueError(f"sample must be a Sample, None or 'random', got {sample!r}")
        sample = random_sample(seed)
    if background_set is None:
        background_set = BACKGROUND_SETS[seed % len(BACKGROUND_SETS)]
    clock = SimClock()
    goniometer = SimGoniometer(name="gonio")
    goniometer.use_clock(clock)
    motion = RealisticMotion() if realistic_motion is True else realistic_motion or None
    if motion is not None:
        goniometer.set_velocities(omega_deg_s=motion.omega_deg_s, translation_mm_s=motion.translation_mm_s, acceleration_s=motion.acceleration_s)
    mount = mount_for(spindle, CameraMount.named(mount) if isinstance(mount, str) else mount)
    zoom = Zoom(
        name="zoom", calibration=calibration or true_calibration(mount), initial_level=zoom_level,
        seconds_per_level=1.0 / motion.zoom_levels_s if motion is not None else 0.0,
    )
    zoom.clock = clock
    camera = SimOnAxisCamera(
        name="oav",
        goniometer=goniometer,
        zoom=zoom,
        sample=sample,
        background_set=background_set,
        noise_seed=seed,
        write_directory=write_directory,
        mount=mount,
        frame_rate_hz=motion.frame_rate_hz if motion is not None else None,
        clock=clock,
        omega_source=goniometer.omega,
    )
    return SimBeamline(goniometer=goniometer, zoom=zoom, camera=camera, sample=sample)
