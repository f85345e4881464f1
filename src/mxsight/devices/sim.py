"""The simulated beamline: a camera that renders the sample at the goniometer's current positions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mxsight.devices.camera import OnAxisCamera
from mxsight.devices.goniometer import SimGoniometer
from mxsight.devices.zoom import Zoom, ZoomCalibration
from mxsight.sim.backgrounds import BACKGROUND_SETS, background_for
from mxsight.sim.render import (
    CAMERA_SHAPE_PX,
    CameraGeometry,
    GoniometerPositions,
    Optics,
    RenderedFrame,
    render,
    sample_point_lab_mm,
    sample_point_rotating_mm,
)
from mxsight.sim.scene import Sample, random_sample

FAULTS = (None, "black", "saturated")


class SimOnAxisCamera(OnAxisCamera):
    """Renders ``sample`` (or an empty field when it is None) as the goniometer and zoom place it.

    ``last_render`` keeps the exact masks and the true loop centre of the latest frame, for tests and
    benchmarks; ``fault`` makes the camera deliver black or saturated frames. With ``spindle``
    "vertical" the camera is turned by 90 degrees (frames transposed), and its zoom calibration must be
    too (``ZoomCalibration.transposed()``): the spindle then runs down the image.
    """

    def __init__(
        self,
        *args,
        goniometer: SimGoniometer,
        zoom: Zoom,
        sample: Sample | None,
        background_set: str = "older_background",
        noise_seed: int = 0,
        spindle: str = "horizontal",
        **kwargs,
    ):
        if spindle not in ("horizontal", "vertical"):
            raise ValueError(f"spindle must be 'horizontal' or 'vertical', got {spindle!r}")
        shape = CAMERA_SHAPE_PX if spindle == "horizontal" else CAMERA_SHAPE_PX[::-1]
        super().__init__(*args, frame_shape=shape, **kwargs)
        self.spindle = spindle
        self.optics = Optics(spindle=spindle)
        self.goniometer = goniometer
        self.zoom = zoom
        self.sample = sample
        self.background_set = background_set
        self.fault: str | None = None
        self.last_render: RenderedFrame | None = None
        self._noise = np.random.default_rng(noise_seed)

    def camera_geometry(self) -> CameraGeometry:
        """The renderer's (horizontal-spindle) view of the current zoom level."""
        level = self.zoom.current
        beam = level.beam_position_px if self.spindle == "horizontal" else level.beam_position_px[::-1]
        return CameraGeometry(level.pixel_size_um, beam, CAMERA_SHAPE_PX)

    def positions(self) -> GoniometerPositions:
        g = self.goniometer
        return GoniometerPositions(
            omega_deg=float(g.omega.position),
            centring_x_mm=float(g.centring_x.position),
            centring_y_mm=float(g.centring_y.position),
            alignment_y_mm=float(g.alignment_y.position),
            alignment_z_mm=float(g.alignment_z.position),
            kappa_deg=float(g.kappa.position),
            phi_deg=float(g.phi.position),
        )

    def reference_background(self) -> np.ndarray:
        """The empty field recorded at the current zoom (``empty_fields``) when there is one, else the
        renderer's own background."""
        recorded = self.empty_fields.get(int(self.zoom.level.get()))
        return recorded if recorded is not None else self._orient(self._horizontal_background())

    def _horizontal_background(self) -> np.ndarray:
        return background_for(int(self.zoom.level.get()), CAMERA_SHAPE_PX, self.background_set)

    def _orient(self, image: np.ndarray) -> np.ndarray:
        return image if self.spindle == "horizontal" else np.ascontiguousarray(np.swapaxes(image, 0, 1))

    def acquire_frame(self) -> np.ndarray:
        if self.fault == "black":
            return self._noise.integers(0, 3, size=(*self.frame_shape, 3), dtype=np.uint8)
        if self.fault == "saturated":
            return np.full((*self.frame_shape, 3), 255, dtype=np.uint8)
        background = self._horizontal_background()
        if self.sample is None:
            noise = self._noise.normal(0.0, 2.0, size=background.shape)
            self.last_render = None
            return self._orient(np.clip(background + noise, 0, 255).astype(np.uint8))
        frame = render(
            self.sample,
            self.camera_geometry(),
            self.positions(),
            background,
            noise_seed=int(self._noise.integers(2**31)),
            optics=self.optics,
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
    realistic_motion: bool = False,
    background_set: str | None = None,
    spindle: str = "horizontal",
) -> SimBeamline:
    """A simulated beamline. ``sample="random"`` draws one from ``seed``; None gives an empty pin-less
    field. ``spindle="vertical"`` turns the camera (and its zoom calibration) by 90 degrees."""
    if isinstance(sample, str):
        if sample != "random":
            raise ValueError(f"sample must be a Sample, None or 'random', got {sample!r}")
        sample = random_sample(seed)
    if background_set is None:
        background_set = BACKGROUND_SETS[seed % len(BACKGROUND_SETS)]
    goniometer = SimGoniometer(name="gonio")
    if realistic_motion:
        goniometer.set_velocities(omega_deg_s=90.0, translation_mm_s=1.0)
    calibration = ZoomCalibration.simulated()
    zoom = Zoom(name="zoom", calibration=calibration if spindle == "horizontal" else calibration.transposed(), initial_level=zoom_level)
    camera = SimOnAxisCamera(
        name="oav",
        goniometer=goniometer,
        zoom=zoom,
        sample=sample,
        background_set=background_set,
        noise_seed=seed,
        write_directory=write_directory,
        spindle=spindle,
        omega_source=goniometer.omega,
    )
    return SimBeamline(goniometer=goniometer, zoom=zoom, camera=camera, sample=sample)
