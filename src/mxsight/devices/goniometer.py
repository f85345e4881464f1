"""Goniometer: omega (degrees) and the centring (on the omega stage) and alignment motors (mm).

``centring_x``/``centring_y`` ride on omega and move the sample across the spindle in the rotating
frame; ``alignment_y`` moves it along the spindle and ``alignment_z`` moves the whole rotation axis
across it. A mini-kappa head on the centring table reorients the sample: ``phi`` turns it about its
pin, ``kappa`` tilts the phi axis about an axis 24 degrees from omega (see
:func:`mxsight.sim.projection.sample_rotation`). ``Goniometer`` talks to EPICS motor records (with
``KappaGoniometer`` adding kappa and phi); ``SimGoniometer`` holds soft motors, kappa and phi
included, with limits that move instantly, or at a set speed when ``velocity`` is given.
"""

from __future__ import annotations

import threading
import time
from typing import Literal

from ophyd import Component as Cpt
from ophyd import Device, EpicsMotor, SoftPositioner

from mxsight.sim.clock import REAL_TIME, SimClock

MOTOR_NAMES = ("omega", "centring_x", "centring_y", "alignment_y", "alignment_z")
KAPPA_MOTOR_NAMES = ("kappa", "phi")


class Goniometer(Device):
    """A goniometer driven through EPICS motor records ``{prefix}Omega``, ``{prefix}CentringX``, ..."""

    omega = Cpt(EpicsMotor, "Omega", kind="hinted")
    centring_x = Cpt(EpicsMotor, "CentringX")
    centring_y = Cpt(EpicsMotor, "CentringY")
    alignment_y = Cpt(EpicsMotor, "AlignmentY")
    alignment_z = Cpt(EpicsMotor, "AlignmentZ")


class KappaGoniometer(Goniometer):
    """A goniometer with a mini-kappa head: adds ``{prefix}Kappa`` and ``{prefix}Phi`` (degrees)."""

    kappa = Cpt(EpicsMotor, "Kappa")
    phi = Cpt(EpicsMotor, "Phi")


class SimMotor(SoftPositioner):
    """A soft motor with limits; with ``velocity`` (units per second) a move takes real time and the
    readback moves through intermediate positions, as a real motor's does, speeding up and slowing
    down over ``acceleration_s`` at either end (a trapezoidal profile)."""

    def __init__(self, *, velocity: float | None = None, acceleration_s: float = 0.0, clock: SimClock = REAL_TIME, **kwargs):
        self.velocity = velocity
        self.acceleration_s = acceleration_s
        self.clock = clock
        self._motion: tuple[float, float, float, float, float] | None = None  # (t0 on the clock, start, end, duration, ramp)
        super().__init__(**kwargs)

    def position_at(self, instant: float) -> float:
        """Where the motor is (or was) at ``instant`` of its clock during its current move, exactly (the
        readback itself is updated every few milliseconds); else its position."""
        motion = self._motion
        if motion is None:
            return float(self.position)
        t0, start, end, duration, ramp = motion
        return start + (end - start) * _covered(min(max(instant - t0, 0.0), duration), duration, ramp)

    def _setup_move(self, position, status):
        if not self.velocity:
            super()._setup_move(position, status)
            return
        start = self.position
        distance, speed, acceleration_s = abs(position - start), abs(self.velocity), self.acceleration_s
        if acceleration_s <= 0:
            ramp, duration = 0.0, distance / speed
        elif distance >= speed * acceleration_s:  # reaches full speed: each ramp covers speed * acceleration_s / 2
            ramp, duration = acceleration_s, distance / speed + acceleration_s
        else:  # a short move: speeds up for half its time, slows down for the other half
            ramp = (distance * acceleration_s / speed) ** 0.5
            duration = 2.0 * ramp
        self._run_subs(sub_type=self.SUB_START, timestamp=time.time())
        self._moving = True
        t0 = self.clock.now()
        self._motion = (t0, start, position, duration, ramp) if duration > 0 else None

        def travel() -> None:
            while (elapsed := self.clock.now() - t0) < duration:
                self._set_position(start + (position - start) * _covered(elapsed, duration, ramp))
                time.sleep(min(0.01, duration - elapsed))
            self._set_position(position)
            self._motion = None
            self._moving = False
            self._done_moving()

        threading.Thread(target=travel, daemon=True, name=f"{self.name}-move").start()

    @property
    def moving(self) -> bool:
        return bool(getattr(self, "_moving", False))


def _covered(elapsed: float, duration: float, ramp: float) -> float:
    """Share of a move done after ``elapsed`` of its ``duration``, with linear speed ramps of ``ramp``
    at either end and constant speed between."""
    if duration <= 0:
        return 1.0
    if ramp <= 0:
        return elapsed / duration
    cruise = duration - 2.0 * ramp  # time at full speed
    total = ramp + cruise  # distance in units of (full speed x 1 s)
    if elapsed < ramp:
        done = elapsed**2 / (2.0 * ramp)
    elif elapsed <= ramp + cruise:
        done = ramp / 2.0 + (elapsed - ramp)
    else:
        left = duration - elapsed
        done = total - left**2 / (2.0 * ramp)
    return min(max(done / total, 0.0), 1.0)


class SimGoniometer(Device):
    """Simulated goniometer with a mini-kappa head; limits are those of a typical MD2-class head with
    an MK3-type kappa (-5 to 240 degrees) and an endless phi."""

    omega = Cpt(SimMotor, limits=(-100000.0, 100000.0), init_pos=0.0, egu="deg", kind="hinted")
    centring_x = Cpt(SimMotor, limits=(-2.0, 2.0), init_pos=0.0, egu="mm")
    centring_y = Cpt(SimMotor, limits=(-2.0, 2.0), init_pos=0.0, egu="mm")
    alignment_y = Cpt(SimMotor, limits=(-5.0, 5.0), init_pos=0.0, egu="mm")
    alignment_z = Cpt(SimMotor, limits=(-2.0, 2.0), init_pos=0.0, egu="mm")
    kappa = Cpt(SimMotor, limits=(-5.0, 240.0), init_pos=0.0, egu="deg")
    phi = Cpt(SimMotor, limits=(-100000.0, 100000.0), init_pos=0.0, egu="deg")

    def use_clock(self, clock: SimClock) -> None:
        """Move on ``clock`` (the simulated beamline's, which stops while frames are rendered)."""
        for name in (*MOTOR_NAMES, *KAPPA_MOTOR_NAMES):
            getattr(self, name).clock = clock

    def set_velocities(
        self,
        *,
        omega_deg_s: float | None,
        translation_mm_s: float | None,
        kappa_phi_deg_s: float | None | Literal["omega"] = "omega",
        acceleration_s: float = 0.0,
    ) -> None:
        """Instant motion (None) or realistic speeds, e.g. 90 deg/s and 1 mm/s, each move taking
        ``acceleration_s`` to reach its speed and to stop. Kappa and phi turn at ``kappa_phi_deg_s``, by
        default at omega's speed."""
        for name in (*MOTOR_NAMES, *KAPPA_MOTOR_NAMES):
            getattr(self, name).acceleration_s = acceleration_s
        self.omega.velocity = omega_deg_s
        for name in MOTOR_NAMES[1:]:
            getattr(self, name).velocity = translation_mm_s
        for name in KAPPA_MOTOR_NAMES:
            getattr(self, name).velocity = omega_deg_s if kappa_phi_deg_s == "omega" else kappa_phi_deg_s
