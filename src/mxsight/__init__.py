"""mxsight: see and align macromolecular-crystallography samples with Bluesky and Ophyd.

``sqlite3`` is imported first on purpose: TensorFlow ships its own SQLite without FTS5, and if it
is loaded before the standard library's module, Tiled's SQLite catalog fails on its first write.
"""

import sqlite3  # noqa: F401  (must precede any TensorFlow import, see the module docstring)

from mxsight.notions import NOTIONS

__version__ = "0.1.0"
__all__ = ["NOTIONS", "__version__"]
