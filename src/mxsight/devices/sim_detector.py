"""A simulated diffraction detector: each image's signal is the share of the beam that crosses the crystal.

It stands in for the detector of a data collection on the simulated beamline. The beam is a disc of
``beam_size_um`` at the zoom's beam position; the crystal is where the simulator's exact crystal mask
is at the goniometer's current positions (the loop's inside when the sample has no crystal). A
well-centred crystal diffracts at every omega; a missed one gives zeros.
"""

from __future__ import annotations

from ophyd import Component as Cpt
from ophyd import Device, Kind, Signal
from ophyd.status import Status
from skimage.draw import disk


class SimDiffractionDetector(Device):
    """``trigger()`` takes one image: ``signal`` (0-1) is the beam's overlap with the crystal."""

    signal = Cpt(Signal, value=0.0, kind=Kind.hinted)
    image_number = Cpt(Signal, value=-1, kind=Kind.normal)
    beam_size_um = Cpt(Signal, value=10.0, kind=Kind.config)

    def __init__(self, *args, camera, beam_size_um: float = 10.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.camera = camera
        self.beam_size_um.put(float(beam_size_um))
        self._count = 0

    def beam_overlap(self) -> float:
        """Share of the beam disc that falls on the crystal (or the loop's inside) right now."""
        self.camera.acquire_frame()
        render = self.camera.last_render
        if render is None:
            return 0.0
        crystal = render.masks["crystal"] if render.masks["crystal"].any() else render.masks["loop_inside"]
        level = self.camera.zoom.current
        radius_px = max(0.5 * self.beam_size_um.get() / level.pixel_size_um, 1.0)
        rows, cols = disk(level.beam_position_px, radius_px, shape=crystal.shape)
        return float(crystal[rows, cols].mean()) if rows.size else 0.0

    def trigger(self) -> Status:
        self.signal.put(self.beam_overlap())
        self._count += 1
        self.image_number.put(self._count)
        status = Status(obj=self)
        status.set_finished()
        return status
