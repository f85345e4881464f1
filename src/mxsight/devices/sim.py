"""The simulated beamline: a camera that renders the sample at the goniometer's current positions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mxsight.devices.camera import OnAxisCamera
from mxsight.devices.goniometer import SimGoniometer
from mxsight.devices.zoom import Zoom, ZoomCalibration
from mxsight.sim.backgrounds import BACKGROUND_SETS, background_for
from mxsight.sim.render import CAMERA_SHAPE_PX, CameraGeometry, GoniometerPositions, RenderedFrame, render
from mxsight.sim.scene import Sample, random_sample

FAULTS = (None, "black", "saturated")


class SimOnAxisCamera(OnAxisCamera):
    """Renders ``sample`` (or an empty field when it is None) as the goniometer and zoom place it.

    ``last_render`` keeps the exact masks and the true loop centre of the latest frame, for tests and
    benchmarks; ``fault`` makes the camera deliver black or saturated frames.
    """

    def __init__(
        self,
        *args,
        goniometer: SimGoniometer,
        zoom: Zoom,
        sample: Sample | None,
        background_set: str = "older_background",
        noise_seed: int = 0,
        **kwargs,
    ):
        super().__init__(*args, frame_shape=CAMERA_SHAPE_PX, **kwargs)
        self.goniometer = goniometer
        self.zoom = zoom
        self.sample = sample
        self.background_set = background_set
        self.fault: str | None = None
        self.last_render: RenderedFrame | None = None
        self._noise = np.random.default_rng(noise_seed)

    def camera_geometry(self) -> CameraGeometry:
        level = self.zoom.current
        return CameraGeometry(level.pixel_size_um, level.beam_position_px, self.frame_shape)

    def positions(self) -> GoniometerPositions:
        g = self.goniometer
        return GoniometerPositions(
            omega_deg=float(g.omega.position),
            centring_x_mm=float(g.centring_x.position),
            centring_y_mm=float(g.centring_y.position),
            alignment_y_mm=float(g.alignment_y.position),
            alignment_z_mm=float(g.alignment_z.position),
        )

    def reference_background(self) -> np.ndarray:
        return background_for(int(self.zoom.level.get()), self.frame_shape, self.background_set)

    def acquire_frame(self) -> np.ndarray:
        if self.fault == "black":
            return self._noise.integers(0, 3, size=(*self.frame_shape, 3), dtype=np.uint8)
        if self.fault == "saturated":
            return np.full((*self.frame_shape, 3), 255, dtype=np.uint8)
        background = self.reference_background()
        if self.sample is None:
            noise = self._noise.normal(0.0, 2.0, size=background.shape)
            self.last_render = None
            return np.clip(background + noise, 0, 255).astype(np.uint8)
        frame = render(
            self.sample,
            self.camera_geometry(),
            self.positions(),
            background,
            noise_seed=int(self._noise.integers(2**31)),
        )
        self.last_render = frame
        return frame.image


@dataclass
class SimBeamline:
    """A goniometer, zoom and camera around one simulated sample."""

    goniometer: SimGoniometer
    zoom: Zoom
    camera: SimOnAxisCamera
    sample: Sample | None

    def loop_centre_errors_um(self) -> dict[str, float]:
        """How far the true loop centre is from the rotation axis and from the beam, in micrometres."""
        if self.sample is None:
            raise ValueError("the simulated beamline has no sample")
        g = self.goniometer
        x, u, w = self.sample.loop_centre_rotating_mm()
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
    realistic_motion: bool = False,
    background_set: str | None = None,
) -> SimBeamline:
    """A simulated beamline. ``sample="random"`` draws one from ``seed``; None gives an empty pin-less field."""
    if isinstance(sample, str):
        if sample != "random":
            raise ValueError(f"sample must be a Sample, None or 'random', got {sample!r}")
        sample = random_sample(seed)
    if background_set is None:
        background_set = BACKGROUND_SETS[seed % len(BACKGROUND_SETS)]
    goniometer = SimGoniometer(name="gonio")
    if realistic_motion:
        goniometer.set_velocities(omega_deg_s=90.0, translation_mm_s=1.0)
    zoom = Zoom(name="zoom", calibration=ZoomCalibration.simulated(), initial_level=zoom_level)
    camera = SimOnAxisCamera(
        name="oav",
        goniometer=goniometer,
        zoom=zoom,
        sample=sample,
        background_set=background_set,
        noise_seed=seed,
        write_directory=write_directory,
    )
    return SimBeamline(goniometer=goniometer, zoom=zoom, camera=camera, sample=sample)
