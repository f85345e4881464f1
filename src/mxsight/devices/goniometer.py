"""Goniometer: omega (degrees) and the centring (on the omega stage) and alignment motors (mm).

``centring_x``/``centring_y`` ride on omega and move the sample across the spindle in the rotating
frame; ``alignment_y`` moves it along the spindle and ``alignment_z`` moves the whole rotation axis
across it. A mini-kappa head on the centring table reorients the sample: ``phi`` turns it about its
pin, ``kappa`` tilts the phi axis about an axis 24 degrees from omega (see
:func:`mxsight.sim.render.sample_rotation`). ``Goniometer`` talks to EPICS motor records (with
``KappaGoniometer`` adding kappa and phi); ``SimGoniometer`` holds soft motors, kappa and phi
included, with limits that move instantly, or at a set speed when ``velocity`` is given.
"""

from __future__ import annotations

import threading
import time
from typing import Literal

from ophyd import Component as Cpt
from ophyd import Device, EpicsMotor, SoftPositioner

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
    readback moves through intermediate positions, as a real motor's does."""

    def __init__(self, *, velocity: float | None = None, **kwargs):
        self.velocity = velocity
        super().__init__(**kwargs)

    def _setup_move(self, position, status):
        if not self.velocity:
            super()._setup_move(position, status)
            return
        start = self.position
        duration = abs(position - start) / self.velocity
        self._run_subs(sub_type=self.SUB_START, timestamp=time.time())
        self._moving = True

        def travel() -> None:
            t0 = time.monotonic()
            while (elapsed := time.monotonic() - t0) < duration:
                self._set_position(start + (position - start) * elapsed / duration)
                time.sleep(min(0.01, duration - elapsed))
            self._set_position(position)
            self._moving = False
            self._done_moving()

        threading.Thread(target=travel, daemon=True, name=f"{self.name}-move").start()

    @property
    def moving(self) -> bool:
        return bool(getattr(self, "_moving", False))


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

    def set_velocities(
        self,
        *,
        omega_deg_s: float | None,
        translation_mm_s: float | None,
        kappa_phi_deg_s: float | None | Literal["omega"] = "omega",
    ) -> None:
        """Instant motion (None) or realistic speeds, e.g. 90 deg/s and 1 mm/s. Kappa and phi turn at
        ``kappa_phi_deg_s``, by default at omega's speed."""
        self.omega.velocity = omega_deg_s
        for name in MOTOR_NAMES[1:]:
            getattr(self, name).velocity = translation_mm_s
        for name in KAPPA_MOTOR_NAMES:
            getattr(self, name).velocity = omega_deg_s if kappa_phi_deg_s == "omega" else kappa_phi_deg_s
