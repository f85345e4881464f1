"""A 3-D sample on a goniometer: pin, stem, loop with its liquid film and an optional crystal.

Coordinates are in mm in the goniometer's rotating frame: ``x`` along the spindle (pointing from the
pin towards the loop), ``u`` and ``w`` perpendicular to it. The whole sample sits at an offset
(``offset_u_mm``, ``offset_w_mm``) from the rotation axis, as a mounted pin does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Crystal:
    """A box-shaped crystal lying in the loop's film, in the loop's own frame.

    ``centre_along_mm`` / ``centre_across_mm`` place it in the loop plane relative to the loop centre;
    ``half_size_mm`` is (along, across, normal); ``in_plane_angle_deg`` turns it within the plane;
    ``centre_normal_mm`` is its depth along the film normal from the film's mid-plane (0: centred).
    """

    centre_along_mm: float
    centre_across_mm: float
    half_size_mm: tuple[float, float, float]
    in_plane_angle_deg: float
    centre_normal_mm: float = 0.0

    def vertices_loop_frame(self) -> np.ndarray:
        """The 8 corners as (along, across, normal) in mm, relative to the loop centre."""
        ha, hc, hn = self.half_size_mm
        corners = np.array([[sa * ha, sc * hc, sn * hn] for sa in (-1, 1) for sc in (-1, 1) for sn in (-1, 1)])
        angle = np.deg2rad(self.in_plane_angle_deg)
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        corners[:, :2] = corners[:, :2] @ rotation.T
        corners[:, 0] += self.centre_along_mm
        corners[:, 1] += self.centre_across_mm
        corners[:, 2] += self.centre_normal_mm
        return corners


@dataclass(frozen=True)
class IceBlob:
    """A sphere in the loop frame (mm from the loop centre: along, across, normal) that turns with the
    sample: a lump of ice on the film, or an air bubble in it."""

    position_mm: tuple[float, float, float]
    radius_mm: float


PIN_STYLES = ("chamfer", "step", "round")
CRYSTAL_HABITS = ("block", "plate", "needle", "cluster")
LOOP_MATERIALS = ("nylon", "polyimide")
STEM_STYLES = ("tube", "twisted")
PIN_FINISHES = ("dark", "polished")


@dataclass(frozen=True)
class Sample:
    """Geometry of one mounted sample. All lengths in mm, angles in degrees."""

    pin_radius_mm: float
    pin_tip_x_mm: float
    stem_radius_mm: float
    stem_length_mm: float
    loop_half_length_mm: float
    loop_half_width_mm: float
    loop_wire_radius_mm: float
    loop_plane_angle_deg: float
    film_thickness_mm: float
    offset_u_mm: float
    offset_w_mm: float
    crystal: Crystal | None = None
    refractive_index: float = 1.33
    ice: tuple[IceBlob, ...] = ()
    capillary_radius_mm: float | None = None
    pin_style: str = "chamfer"
    pin_length_mm: float = 4.0
    loop_taper: float = 0.0
    mesh_pitch_mm: float | None = None
    loop_material: str = "nylon"
    loop_bend_mm: float = 0.0
    cluster: tuple[Crystal, ...] = ()
    stem_style: str = "tube"
    ice_ring_arc_deg: tuple[float, float] | None = None
    bubbles: tuple[IceBlob, ...] = ()
    drop_bulge: float = 0.0
    pin_finish: str = "dark"
    seed: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.drop_bulge < 0:
            raise ValueError(f"drop_bulge must be >= 0 (0: a flat film), got {self.drop_bulge}")
        if self.pin_finish not in PIN_FINISHES:
            raise ValueError(f"pin_finish must be one of {PIN_FINISHES}, got {self.pin_finish!r}")

    @property
    def loop_centre_x_mm(self) -> float:
        return self.pin_tip_x_mm + self.stem_length_mm + self.loop_half_length_mm

    @property
    def loop_axes(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit vectors (across, normal) of the loop plane in the rotating (u, w) plane."""
        beta = np.deg2rad(self.loop_plane_angle_deg)
        return np.array([np.cos(beta), np.sin(beta)]), np.array([-np.sin(beta), np.cos(beta)])

    def loop_centre_rotating_mm(self) -> np.ndarray:
        """(x, u, w) of the loop centre in the rotating frame, before the centring motors."""
        return np.array([self.loop_centre_x_mm, self.offset_u_mm, self.offset_w_mm])

    def bend_mm(self, along_mm):
        """Out-of-plane deflection (along the loop normal) of the loop at ``along_mm`` from its centre:
        zero at the stem end, ``loop_bend_mm`` at the tip."""
        reach = (np.asarray(along_mm, dtype=float) / self.loop_half_length_mm + 1.0) / 2.0
        return self.loop_bend_mm * np.clip(reach, 0.0, 1.0) ** 2

    def crystal_centre_rotating_mm(self) -> np.ndarray | None:
        if self.crystal is None:
            return None
        across, normal = self.loop_axes
        x = self.loop_centre_x_mm + self.crystal.centre_along_mm
        depth = self.crystal.centre_normal_mm + self.bend_mm(self.crystal.centre_along_mm)
        offset = self.crystal.centre_across_mm * across + depth * normal
        u, w = np.array([self.offset_u_mm, self.offset_w_mm]) + offset
        return np.array([x, u, w])


def random_sample(
    seed: int,
    *,
    with_crystal: bool | None = None,
    ice_probability: float = 0.0,
    capillary_probability: float = 0.0,
    teardrop_probability: float = 0.0,
    loop_half_width_range_mm: tuple[float, float] = (0.05, 0.2),
    crystal_anywhere_in_film: bool = False,
    liquid_probability: float = 0.0,
    polished_pin_probability: float = 0.0,
) -> Sample:
    """A plausible random sample; the same seed always gives the same sample.

    Sizes follow common MX hardware: pins of 0.5-0.7 mm diameter, loops of 0.1-0.4 mm, mounted up to
    0.25 mm off the rotation axis, with the loop anywhere within +-0.45 mm of the beam along the spindle.
    Ice, bubbles, mesh loops, capillaries and teardrop loops are off by default (the simulated
    beamline's samples are clean, symmetric loops whose centre is unambiguous); training data asks for
    them with ``ice_probability``, ``capillary_probability`` and ``teardrop_probability``, and a wider
    range of loop sizes (20-1000 um) with ``loop_half_width_range_mm``. Crystals lie on the film's
    mid-plane unless ``crystal_anywhere_in_film``, which draws their depth anywhere the film holds them
    (refraction then shifts their image differently through either face). ``liquid_probability``
    gives the loop a bulging liquid drop (``drop_bulge``: its thickness at the centre over the loop's
    half-width, 0.3-2), which back-lit cameras image as a dark lens; ``polished_pin_probability`` a
    polished metal pin. Both are drawn from their own stream, so they never change the rest of a seed's
    sample.
    """
    rng = np.random.default_rng(seed)
    half_width = rng.uniform(*loop_half_width_range_mm)
    half_length = half_width * rng.uniform(1.0, 1.5)
    wire = min(rng.uniform(0.008, 0.015), 0.3 * half_width)
    film = rng.uniform(0.02, 0.05)
    stem_length = rng.uniform(0.25, 0.6)
    loop_centre_x = rng.uniform(-0.45, 0.45)
    pin_tip = loop_centre_x - half_length - stem_length
    radius = rng.uniform(0.0, 0.25)
    phase = rng.uniform(0, 2 * np.pi)
    if with_crystal is None:
        with_crystal = bool(rng.uniform() < 0.7)
    habit = str(np.random.default_rng([seed, 2]).choice(CRYSTAL_HABITS))
    crystal = _random_crystal(rng, half_length - wire, half_width - wire, film, habit) if with_crystal else None
    if crystal is not None and crystal_anywhere_in_film:
        room = 0.5 * film - crystal.half_size_mm[2]
        depth = float(np.random.default_rng([seed, 4]).uniform(-room, room))
        crystal = dataclasses.replace(crystal, centre_normal_mm=depth)
    cluster: tuple[Crystal, ...] = ()
    if crystal is not None and habit == "cluster":
        members = np.random.default_rng([seed, 3])
        cluster = tuple(
            _random_crystal(members, half_length - wire, half_width - wire, film, "block", near=crystal, size=0.5)
            for _ in range(int(members.integers(1, 4)))
        )
    extras = np.random.default_rng([seed, 1])
    looks = np.random.default_rng([seed, 5])
    ice: tuple[IceBlob, ...] = ()
    if extras.uniform() < ice_probability:
        count = int(extras.integers(1, 6))
        angles = extras.uniform(0, 2 * np.pi, count)
        reach = extras.uniform(0.3, 1.05, count)
        ice = tuple(
            IceBlob(
                position_mm=(
                    float(r * half_length * np.cos(a)),
                    float(r * half_width * np.sin(a)),
                    float(extras.choice([-0.5, 0.5]) * film),
                ),
                radius_mm=float(extras.uniform(0.003, max(0.25 * half_width, 0.004))),
            )
            for a, r in zip(angles, reach)
        )
    capillary = float(extras.uniform(0.35, 0.6)) if extras.uniform() < capillary_probability else None
    pin_style = str(extras.choice(PIN_STYLES))
    bubbles = tuple(
        IceBlob(
            position_mm=(float(extras.uniform(-0.6, 0.6) * half_length), float(extras.uniform(-0.6, 0.6) * half_width), 0.0),
            radius_mm=float(extras.uniform(0.003, max(0.12 * half_width, 0.004))),
        )
        for _ in range(int(extras.integers(0, 3)) if extras.uniform() < ice_probability else 0)
    )
    return Sample(
        pin_radius_mm=rng.uniform(0.25, 0.35),
        pin_tip_x_mm=pin_tip,
        stem_radius_mm=rng.uniform(0.015, 0.03),
        stem_length_mm=stem_length,
        loop_half_length_mm=half_length,
        loop_half_width_mm=half_width,
        loop_wire_radius_mm=wire,
        loop_plane_angle_deg=rng.uniform(0, 180),
        film_thickness_mm=film,
        offset_u_mm=float(radius * np.cos(phase)),
        offset_w_mm=float(radius * np.sin(phase)),
        crystal=crystal,
        refractive_index=float(rng.uniform(1.31, 1.34)),
        ice=ice,
        capillary_radius_mm=capillary,
        pin_style=pin_style,
        pin_length_mm=float(extras.uniform(1.5, 5.0)),
        loop_taper=float(extras.uniform(0.1, 0.45)) if extras.uniform() < teardrop_probability else 0.0,
        mesh_pitch_mm=float(extras.uniform(0.015, 0.04)) if extras.uniform() < 0.5 * ice_probability else None,
        bubbles=bubbles,
        loop_material=str(extras.choice(LOOP_MATERIALS)),
        loop_bend_mm=float(extras.uniform(-0.3, 0.3) * half_width) if extras.uniform() < teardrop_probability else 0.0,
        cluster=cluster,
        stem_style=str(extras.choice(STEM_STYLES)),
        ice_ring_arc_deg=_ice_ring(extras) if extras.uniform() < 0.5 * ice_probability else None,
        drop_bulge=float(looks.uniform(0.3, 2.0)) if looks.uniform() < liquid_probability else 0.0,
        pin_finish="polished" if looks.uniform() < polished_pin_probability else "dark",
        seed=seed,
    )


def _random_crystal(
    rng: np.random.Generator,
    inner_along_mm: float,
    inner_across_mm: float,
    film_mm: float,
    habit: str = "block",
    *,
    near: Crystal | None = None,
    size: float = 1.0,
) -> Crystal:
    """A crystal of the given habit (block, plate: thin along the film normal, needle: long and thin;
    a cluster's first member is a block), drawn until all its corners lie inside the film (ellipse and
    slab), so masks nest exactly. ``near`` places it beside another crystal (cluster members)."""
    along_scale, across_scale, normal_scale = {
        "block": (1.0, 1.0, 1.0),
        "cluster": (1.0, 1.0, 1.0),
        "plate": (1.2, 1.2, 0.4),
        "needle": (1.8, 0.35, 0.6),
    }[habit]
    along_scale, across_scale = along_scale * size, across_scale * size
    while True:
        if near is None:
            centre = (rng.uniform(-0.3, 0.3) * inner_along_mm, rng.uniform(-0.3, 0.3) * inner_across_mm)
        else:
            reach = 0.6 * max(near.half_size_mm[:2])
            centre = (near.centre_along_mm + rng.uniform(-1, 1) * reach, near.centre_across_mm + rng.uniform(-1, 1) * reach)
        crystal = Crystal(
            centre_along_mm=centre[0],
            centre_across_mm=centre[1],
            half_size_mm=(
                rng.uniform(0.15, 0.35) * inner_along_mm * along_scale,
                rng.uniform(0.15, 0.35) * inner_across_mm * across_scale,
                min(rng.uniform(0.2, 0.45) * normal_scale, 0.45) * film_mm,
            ),
            in_plane_angle_deg=rng.uniform(0, 180),
        )
        corners = crystal.vertices_loop_frame()
        if np.all((corners[:, 0] / inner_along_mm) ** 2 + (corners[:, 1] / inner_across_mm) ** 2 <= 0.9):
            return crystal


def _ice_ring(rng: np.random.Generator) -> tuple[float, float]:
    """Start and span (degrees, around the loop's rim) of an ice crust frozen along the loop wire."""
    return float(rng.uniform(0, 360)), float(rng.uniform(30, 360))
