"""A motor record served by caproto: the fields ophyd's ``EpicsMotor`` uses, moving in simulated time.

A put to ``VAL`` within the soft limits (``LLM``/``HLM``) starts a move at ``VELO`` units per second
(``VELO`` 0: the move takes no time). ``DMOV`` drops to 0 and ``MOVN`` rises to 1 for the move, as a
motor record's do even for a move of zero length, and ``RBV`` follows the position every tick with
the time it was read. A put outside the limits sets ``LVIO`` and moves nothing; a put to ``STOP``
ends the move where it is. ``position_at(t)`` gives the position at any time of the current move, so
a camera can render exactly where the motor was when a frame was exposed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from caproto.server import PVGroup, pvproperty

TICK_S = 0.01  # how often a moving motor's readback is updated


@dataclass(frozen=True)
class Move:
    """A straight move from ``start`` at ``start_time`` (POSIX seconds) at ``velocity`` (units/s;
    0 means it is there at once)."""

    start: float
    target: float
    start_time: float
    velocity: float

    @property
    def duration_s(self) -> float:
        return abs(self.target - self.start) / self.velocity if self.velocity > 0 else 0.0

    def position_at(self, timestamp: float) -> float:
        elapsed = timestamp - self.start_time
        if elapsed >= self.duration_s:
            return self.target
        if elapsed <= 0:
            return self.start
        return self.start + (self.target - self.start) * elapsed / self.duration_s


class SimMotorRecord(PVGroup):
    """One motor record (PV ``{prefix}``, fields ``{prefix}.RBV`` ...)."""

    motor = pvproperty(value=0.0, name="", record="motor", precision=4)

    def __init__(self, *args, egu: str, limits: tuple[float, float], velocity: float, initial: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        if not limits[0] < limits[1]:
            raise ValueError(f"{self.prefix}: low limit {limits[0]} must be below high limit {limits[1]}")
        self.egu, self.limits, self.initial_velocity = egu, (float(limits[0]), float(limits[1])), float(velocity)
        self._move = Move(initial, initial, time.time(), 0.0)
        self._wake = asyncio.Event()
        self._done = True

    def position_at(self, timestamp: float) -> float:
        """Where the motor is (or was) at ``timestamp`` during its latest move."""
        return self._move.position_at(timestamp)

    @property
    def moving(self) -> bool:
        return not self._done

    async def jump_to(self, position: float) -> None:
        """Set the motor's position at once, with no move (a new sample mounted, a reset)."""
        self._move = Move(position, position, time.time(), 0.0)
        await self.motor.write(position, verify_value=False)
        await self.motor.field_inst.user_readback_value.write(position)

    @motor.startup
    async def motor(self, instance, async_lib):
        fields = instance.field_inst
        await fields.engineering_units.write(self.egu)
        await fields.user_low_limit.write(self.limits[0])
        await fields.user_high_limit.write(self.limits[1])
        await fields.velocity.write(self.initial_velocity)
        await fields.done_moving_to_value.write(1)
        await fields.motor_is_moving.write(0)
        await instance.write_metadata(lower_ctrl_limit=self.limits[0], upper_ctrl_limit=self.limits[1])
        await self.jump_to(self._move.target)
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._follow_move(fields)

    async def _follow_move(self, fields) -> None:
        await fields.done_moving_to_value.write(0)
        await fields.motor_is_moving.write(1)
        while True:
            now = time.time()
            if fields.stop.value:
                self._move = Move(self._move.position_at(now), self._move.position_at(now), now, 0.0)
                await fields.stop.write(0)
                await self.motor.write(self._move.target)
            position = self._move.position_at(now)
            await fields.user_readback_value.write(position, timestamp=now)
            await fields.dial_readback_value.write(position, timestamp=now)
            if now >= self._move.start_time + self._move.duration_s and not self._wake.is_set():
                break
            self._wake.clear()
            await asyncio.sleep(TICK_S)
        await fields.motor_is_moving.write(0)
        if not self._wake.is_set():  # else a new move came in meanwhile: the loop follows it
            await fields.done_moving_to_value.write(1)
            self._done = True

    @motor.putter
    async def motor(self, instance, value):
        low, high = float(instance.field_inst.user_low_limit.value), float(instance.field_inst.user_high_limit.value)
        if low < high and not low <= value <= high:
            await instance.field_inst.limit_violation.write(1)
            return instance.value  # a motor record refuses a target beyond its soft limits
        await instance.field_inst.limit_violation.write(0)
        await instance.field_inst.stop.write(0)  # STOP is momentary: one written while at rest must not cancel this move
        now = time.time()
        self._move = Move(self._move.position_at(now), float(value), now, float(instance.field_inst.velocity.value))
        self._done = False
        self._wake.set()
        return value
