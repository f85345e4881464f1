"""A simulated sample changer: mounts the sample a pin's id names on the simulated goniometer.

At a beamline a queued collection starts by mounting its sample; on the simulated beamline the sample
an id names is a seeded random sample (the same id, the same sample), and the ids listed as empty pins
mount nothing, as a robot that finds an empty puck position would.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from ophyd import Component as Cpt
from ophyd import Device, Kind, Signal
from ophyd.status import Status

from mxsight.sim.scene import Sample, random_sample

MOUNT_POSITIONS_MM = {"centring_x": 0.0, "centring_y": 0.0, "alignment_y": 0.0, "alignment_z": 0.0}


def sample_for_id(sample_id: str) -> Sample:
    """The simulated sample a pin id names (a random sample seeded by the id)."""
    return random_sample(zlib.crc32(sample_id.encode()))


class SimSampleChanger(Device):
    """``set(sample_id)`` mounts that sample (``None`` for an id in ``empty_pins``), puts the centring
    table and any kappa/phi back at their mount positions, and reports the id in ``mounted``."""

    mounted = Cpt(Signal, value="", kind=Kind.hinted)

    def __init__(self, *args, beamline, empty_pins: Iterable[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.beamline = beamline
        self.empty_pins = frozenset(empty_pins)

    def set(self, sample_id: str) -> Status:
        if not isinstance(sample_id, str) or not sample_id:
            raise ValueError(f"a sample id must be a non-empty string, got {sample_id!r}")
        sample = None if sample_id in self.empty_pins else sample_for_id(sample_id)
        self.beamline.sample = sample
        self.beamline.camera.sample = sample
        goniometer = self.beamline.goniometer
        for name, position in MOUNT_POSITIONS_MM.items():
            getattr(goniometer, name).set(position).wait()
        for name in ("kappa", "phi"):
            if hasattr(goniometer, name):
                getattr(goniometer, name).set(0.0).wait()
        self.mounted.put(sample_id)
        status = Status(obj=self)
        status.set_finished()
        return status
