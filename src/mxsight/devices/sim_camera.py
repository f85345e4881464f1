"""The simulated on-axis camera: renders the sample at the goniometer's positions at exposure."""

from __future__ import annotations

import threading

import numpy as np
from ophyd.status import DeviceStatus

from mxsight.devices.camera import CameraError, CameraTimeout, OnAxisCamera
from mxsight.devices.goniometer import SimGoniometer
from mxsight.devices.zoom import Zoom, ZoomCalibration
from mxsight.sim.backgrounds import background_for
from mxsight.sim.camera_mount import CameraMount, mount_for
from mxsight.sim.clock import REAL_TIME, SimClock
from mxsight.sim.projection import CAMERA_SHAPE_PX, CameraGeometry, GoniometerPositions
from mxsight.sim.render import Optics, RenderedFrame, render
from mxsight.sim.scene import Sample

FAULTS = (None, "black", "saturated", "stuck")


class SimOnAxisCamera(OnAxisCamera):
    """Renders ``sample`` (or an empty field when it is None) as the goniometer and zoom place it.

    ``last_render`` keeps the exact masks and the true loop centre of the latest frame, for tests and
    benchmarks; ``fault`` makes the camera deliver black or saturated frames, or none ("stuck": the
    trigger fails with :class:`CameraTimeout` after ``frame_timeout_s``; "error": it fails at once with
    :class:`CameraError`, as a camera whose driver reports a failure; both after ``fault_after``
    good triggers, default none). ``mount`` turns or
    mirrors the renderer's view as a real camera may be mounted (:class:`CameraMount`); ``spindle``
    "vertical" alone means the "transposed" mount (the spindle runs down the image). The optics' true
    magnification and beam position per level are the simulator's own (``ZoomCalibration.simulated()``,
    standard view), whatever calibration the zoom device holds: that is what plans believe. With
    ``frame_rate_hz`` it streams as a real camera does (see :meth:`trigger`).
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
        mount: CameraMount | None = None,
        frame_rate_hz: float | None = None,
        clock: SimClock = REAL_TIME,
        frame_timeout_s: float = 2.0,
        **kwargs,
    ):
        self.mount = mount_for(spindle, mount)
        super().__init__(*args, frame_shape=self.mount.shape(CAMERA_SHAPE_PX), **kwargs)
        self.spindle = self.mount.spindle
        self.optics = Optics()
        self.true_calibration = ZoomCalibration.simulated()
        self.frame_rate_hz = frame_rate_hz
        self.frame_timeout_s = frame_timeout_s
        self.clock = clock
        self._exposure_instant: float | None = None  # on ``clock``
        self.goniometer = goniometer
        self.zoom = zoom
        self.sample = sample
        self.background_set = background_set
        self.fault: str | None = None
        self.fault_after = 0  # triggers that succeed before the fault shows
        self._triggers = 0
        self.last_render: RenderedFrame | None = None
        self._noise = np.random.default_rng(noise_seed)

    def camera_geometry(self) -> CameraGeometry:
        """The renderer's (standard) view of the current zoom level, with the optics' true values."""
        level = self.true_calibration[int(self.zoom.level.get())]
        return CameraGeometry(level.pixel_size_um, level.beam_position_px, CAMERA_SHAPE_PX)

    def positions(self) -> GoniometerPositions:
        """The motors' positions at the frame's exposure (now, when the camera keeps no frame clock)."""
        g, t = self.goniometer, self._exposure_instant or self.clock.now()
        return GoniometerPositions(
            omega_deg=g.omega.position_at(t),
            centring_x_mm=g.centring_x.position_at(t),
            centring_y_mm=g.centring_y.position_at(t),
            alignment_y_mm=g.alignment_y.position_at(t),
            alignment_z_mm=g.alignment_z.position_at(t),
            kappa_deg=g.kappa.position_at(t),
            phi_deg=g.phi.position_at(t),
        )

    def omega_readback_deg(self) -> float:
        return self.positions().omega_deg

    def trigger(self):
        """Without a frame rate, a frame now. With ``frame_rate_hz``, as a streaming camera: the first
        frame exposed after the trigger, at the next tick of the camera's clock, rendered at the motors'
        positions at that instant; the Status completes from a worker thread once it is written."""
        self._triggers += 1
        if self.fault in ("stuck", "error") and self._triggers > self.fault_after:
            if self.fault == "error":
                status = DeviceStatus(self)
                status.set_exception(CameraError(f"{self.name}: the camera reported a failure instead of frame {self._triggers}"))
                return status
            return self._timed_out()
        if not self.frame_rate_hz:
            return super().trigger()
        status = DeviceStatus(self)

        def expose() -> None:
            try:
                tick = (np.floor(self.clock.now() * self.frame_rate_hz) + 1.0) / self.frame_rate_hz
                self.clock.sleep_until(tick)
                self._exposure_instant = tick
                super(SimOnAxisCamera, self).trigger()
            except Exception as error:  # noqa: BLE001  (reported through the status)
                status.set_exception(error)
            else:
                status.set_finished()
            finally:
                self._exposure_instant = None

        threading.Thread(target=expose, daemon=True, name=f"{self.name}-exposure").start()
        return status

    def _timed_out(self) -> DeviceStatus:
        status = DeviceStatus(self)
        message = f"{self.name}: no frame within {self.frame_timeout_s} s of the trigger"
        threading.Timer(self.frame_timeout_s, lambda: status.set_exception(CameraTimeout(message))).start()
        return status

    def reference_background(self) -> np.ndarray:
        """The empty field recorded at the current zoom (``empty_fields``) when there is one, else the
        renderer's own background."""
        recorded = self.empty_fields.get(int(self.zoom.level.get()))
        return recorded if recorded is not None else self._orient(self._horizontal_background())

    def _horizontal_background(self) -> np.ndarray:
        return background_for(int(self.zoom.level.get()), CAMERA_SHAPE_PX, self.background_set)

    def _orient(self, image: np.ndarray) -> np.ndarray:
        return self.mount.image(image)

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
        with self.clock.paused():  # a real camera's frames cost the beamline no time
            frame = render(
                self.sample,
                self.camera_geometry(),
                self.positions(),
                background,
                noise_seed=int(self._noise.integers(2**31)),
                optics=self.optics,
            )
        self.last_render = RenderedFrame(
            image=self.mount.image(frame.image),
            masks={notion: self.mount.image(mask) for notion, mask in frame.masks.items()},
            click_px=self.mount.point(frame.click_px, CAMERA_SHAPE_PX),
            loop_centre_px=self.mount.point(frame.loop_centre_px, CAMERA_SHAPE_PX),
            omega_deg=frame.omega_deg,
        )
        return self.last_render.image
