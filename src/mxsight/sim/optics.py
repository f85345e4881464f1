"""Ray optics of the simulator: where a point inside the liquid film appears to an orthographic camera.

The camera looks along ``view_direction`` (unit vector pointing from the sample towards the camera).
A point P under the film's front face is seen where the ray that leaves the face towards the camera
crosses the face: tracing that ray backwards from the camera, it refracts at the face (Snell's law,
air to index n) and reaches P. The apparent image position is the crossing point Q.
"""

from __future__ import annotations

import numpy as np


def refract(direction: np.ndarray, normal: np.ndarray, eta: float) -> np.ndarray:
    """Refracted unit direction of a ray ``direction`` hitting a surface whose unit ``normal`` faces the
    incoming ray (normal . direction < 0); ``eta`` = n_incident / n_transmitted."""
    cos_incident = -float(np.dot(normal, direction))
    sin2_transmitted = eta**2 * (1.0 - cos_incident**2)
    if sin2_transmitted > 1.0:
        raise ValueError("total internal reflection: no transmitted ray")
    return eta * direction + (eta * cos_incident - np.sqrt(1.0 - sin2_transmitted)) * normal


def apparent_positions(
    points: np.ndarray,
    face_point: np.ndarray,
    face_normal: np.ndarray,
    refractive_index: float,
    view_direction: np.ndarray,
) -> np.ndarray:
    """Points (N x 3) under a face, moved to where they appear through it (on the face plane).

    ``face_normal`` is the face's outward unit normal; it is flipped if needed so that it points towards
    the camera (the face the camera looks through).
    """
    points = np.atleast_2d(np.asarray(points, dtype=float))
    normal = np.asarray(face_normal, dtype=float)
    view = np.asarray(view_direction, dtype=float)
    if np.dot(normal, view) < 0:
        normal = -normal
    inside = refract(-view, normal, 1.0 / refractive_index)
    depth = (points - face_point) @ normal
    travel = depth / float(np.dot(normal, inside))
    return points - travel[:, None] * inside[None, :]
