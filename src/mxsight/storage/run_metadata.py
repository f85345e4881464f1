"""What mxsight puts in a run's Tiled metadata beside bluesky's TiledWriter: documents made fit for
JSON, and the run's summary written in one request."""

from __future__ import annotations

import math

import numpy as np

METADATA_DOCUMENTS = ("start", "descriptor", "stop")  # stored as node metadata (JSON), not in tables


def finite_json(value):
    """``value`` with every infinite or NaN number replaced by None. JSON has no infinity: bluesky's
    TiledWriter clips it to 1.7976e308, which PostgreSQL's JSONB hands back as a 309-digit integer
    that Tiled then cannot serialise (every later read of the run fails)."""
    if isinstance(value, (float, np.floating)):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(item) for item in value]
    if isinstance(value, np.ndarray) and value.dtype.kind in "fc" and not np.isfinite(value).all():
        return finite_json(value.tolist())
    return value


def write_summary(container, uid: str, summary: dict) -> None:
    """Set ``metadata["summary"]`` of ``container[uid]`` to ``summary`` in one request (a JSON Patch
    ``add``, which keeps null values; ``update_metadata`` would fetch the run first), retried as the
    Tiled client retries its own requests."""
    from tiled.client.utils import handle_error, retry_context
    from tiled.utils import patch_mimetypes, safe_json_dump

    patch = [{"op": "add", "path": "/summary", "value": finite_json(summary)}]
    body = {"content-type": patch_mimetypes.JSON_PATCH, "metadata": patch, "specs": None, "access_tags": None}
    for attempt in retry_context():
        with attempt:
            handle_error(container.context.http_client.patch(
                f"{container.uri.rstrip('/')}/{uid}", headers={"Content-Type": "application/json"},
                content=safe_json_dump(body), params={"drop_revision": True},
            ))
