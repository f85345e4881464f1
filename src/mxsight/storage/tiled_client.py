"""Clients of a Tiled server, made without importing the writing side (light enough for a command
that lists runs and exits)."""

from __future__ import annotations

from urllib.parse import urlsplit


def public_address(uri: str) -> str:
    """``uri`` without its query (where an ``api_key`` would be)."""
    return uri.split("?", 1)[0]


def metadata_clients():
    """Tiled's client classes for each structure family and none for specs: a run is then a plain
    container, read without importing the BlueskyRun client (bluesky-tiled-plugins, xarray, dask), for
    callers that read metadata only."""
    from tiled.client.container import DEFAULT_STRUCTURE_CLIENT_DISPATCH
    from tiled.structures.core import StructureFamily
    from tiled.utils import OneShotCachedMap

    default = DEFAULT_STRUCTURE_CLIENT_DISPATCH["numpy"]  # each class imported when first needed
    return OneShotCachedMap({family.value: (lambda name=family.value: default[name]) for family in StructureFamily if family.value in default})


def connect(uri: str, api_key: str | None = None, *, access: str = "read", timeout_s: float = 3.0, metadata_only: bool = False):
    """A client of the Tiled server at ``uri``, after one quick look that it answers: an unreachable
    server is one ``ConnectionError`` line in seconds, not a traceback after the client's retries.
    The key: ``api_key``, else ``TILED_API_KEY``, else this host's keys file's key for ``access``
    ("read" or "write", :mod:`mxsight.storage.tiled_keys`). A key inside the URI is refused (it would
    be printed and logged). ``metadata_only``: runs come back as plain containers (:func:`metadata_clients`)."""
    import httpx
    from tiled.client import from_uri

    from mxsight.storage.tiled_keys import api_key as host_key

    if "api_key=" in uri:
        raise ValueError("put the Tiled API key in TILED_API_KEY, not in the URI (it would be printed and logged)")
    parts = urlsplit(uri)
    tls = parts.scheme == "https"  # plain HTTP has no certificates to check: loading them costs a command ~40 ms
    try:
        httpx.get(f"{parts.scheme}://{parts.netloc}/healthz", timeout=timeout_s, verify=tls)
    except httpx.HTTPError as error:
        raise ConnectionError(f"Tiled at {uri} unreachable ({type(error).__name__}: {error})") from None
    options = {"structure_clients": metadata_clients()} if metadata_only else {}
    return from_uri(uri, api_key=api_key or host_key(access), verify=tls, **options)
