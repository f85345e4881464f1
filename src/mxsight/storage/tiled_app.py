"""The web app of ``mxsight tiled serve``: Tiled's own, with per-request costs that do not depend on
the request taken out.

A RunEngine writes a run as a few dozen small requests; on tiled 0.2 with FastAPI most of each
request's time went to work that gives the same answer every time:

- **API-key lookups.** Every request looks its key up in the keys database three times (for the
  principal, the scopes and the access tags), each a query that also loads the principal's roles,
  identities and sessions. A key found valid is remembered per worker for :data:`KEY_LOOKUP_TTL_S`:
  a key removed from the database stops working within that time; an unknown key is never remembered.
- **Dependency graphs.** Tiled overrides one FastAPI dependency (its settings), and with any override
  FastAPI rebuilds the dependency graph of every request from the endpoints' signatures. Building a
  graph is a pure function of its arguments, so the graphs are built once and reused.
- **Closing streams nobody listens to.** bluesky's TiledWriter closes the live stream of every node
  of a run at its stop (9 requests a run). With no streaming cache and no webhooks configured (as
  ``mxsight tiled serve`` configures Tiled) closing a stream does nothing; such a request from a
  remembered key that may write data is answered at once, without looking the node up.

uvicorn runs :func:`app_factory` in each worker (``--factory mxsight.storage.tiled_app:app_factory``).
"""

from __future__ import annotations

import hashlib
import os
import time
from datetime import datetime, timezone

KEY_LOOKUP_TTL_S = 30.0
STREAM_CLOSE_PREFIX = "/api/v1/stream/close/"


class RememberedKeys:
    """Tiled's ``lookup_valid_api_key``, remembering the keys it found valid for ``ttl_s``."""

    def __init__(self, lookup, ttl_s: float = KEY_LOOKUP_TTL_S):
        self.lookup = lookup
        self.ttl_s = ttl_s
        self._found: dict[bytes, tuple[float, object]] = {}

    async def __call__(self, db, secret: bytes):
        api_key = self.remembered(secret)
        if api_key is None:
            api_key = await self.lookup(db, secret)
            if api_key is not None:
                self._found[hashlib.sha256(secret).digest()] = (time.monotonic(), api_key)
        return api_key

    def remembered(self, secret: bytes):
        """The key's record if it was found valid less than ``ttl_s`` ago, has not expired and is still
        whole (a record whose session failed to commit is expired by SQLAlchemy and cannot reload once
        its session is closed: it is dropped, and the next request looks the key up again)."""
        from sqlalchemy import inspect
        from sqlalchemy.exc import SQLAlchemyError

        digest = hashlib.sha256(secret).digest()
        if digest not in self._found:
            return None
        looked_up_at, api_key = self._found[digest]
        try:
            if time.monotonic() - looked_up_at < self.ttl_s and not inspect(api_key).expired_attributes:
                expires = api_key.expiration_time
                principal = api_key.principal
                if not inspect(principal).expired_attributes and (expires is None or expires.replace(tzinfo=timezone.utc) > datetime.now(timezone.utc)):
                    return api_key
        except SQLAlchemyError:
            pass
        self._found.pop(digest, None)
        return None

    def may(self, api_key_hex: str, scope: str) -> bool:
        """Whether a remembered key grants ``scope`` (its scopes within its principal's, as Tiled
        resolves them); False for a key not remembered."""
        from sqlalchemy.exc import SQLAlchemyError

        try:
            api_key = self.remembered(bytes.fromhex(api_key_hex))
            if api_key is None:
                return False
            principal_scopes = set().union(*[role.scopes for role in api_key.principal.roles])
            scopes = set(api_key.scopes) & (principal_scopes | {"inherit"})
        except (ValueError, SQLAlchemyError):
            return False
        return scope in scopes or ("inherit" in scopes and scope in principal_scopes)


def _remember_valid_keys() -> RememberedKeys:
    """Put a :class:`RememberedKeys` in place of the key lookup of Tiled's request authentication."""
    from tiled.server import authentication

    if not isinstance(authentication.lookup_valid_api_key, RememberedKeys):
        authentication.lookup_valid_api_key = RememberedKeys(authentication.lookup_valid_api_key)
    return authentication.lookup_valid_api_key


def _build_dependency_graphs_once() -> None:
    """Make FastAPI's ``get_dependant`` (used at every request while any dependency is overridden)
    return the graph it built before for the same arguments."""
    from fastapi.dependencies import utils

    build = utils.get_dependant
    if getattr(build, "builds_once", False):
        return
    built: dict[tuple, tuple] = {}

    def get_dependant(*, path, call, name=None, own_oauth_scopes=None, parent_oauth_scopes=None, **options):
        arguments = dict(path=path, call=call, name=name, own_oauth_scopes=own_oauth_scopes, parent_oauth_scopes=parent_oauth_scopes, **options)
        try:  # the callable by identity, as FastAPI tells dependencies apart
            key = (path, id(call), name, tuple(own_oauth_scopes or ()), tuple(parent_oauth_scopes or ()), tuple(sorted(options.items())))
            hash(key)
        except TypeError:  # an argument that cannot be a key: build it as FastAPI would
            return build(**arguments)
        if key not in built:
            built[key] = (call, build(**arguments))  # keeps ``call`` alive, so its id is not reused
        return built[key][1]

    get_dependant.builds_once = True
    utils.get_dependant = get_dependant


def _api_key(scope: dict) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            return key.strip() if scheme.lower() == "apikey" else ""
    return ""


class QuietStreamClose:
    """ASGI app: answers a stream close from a remembered key that may write data (nothing to do: no
    streaming cache, no webhooks); passes everything else to ``app``."""

    def __init__(self, app, keys: RememberedKeys):
        self.app = app
        self.keys = keys

    async def __call__(self, scope, receive, send) -> None:
        if (scope["type"] == "http" and scope["method"] == "DELETE" and scope["path"].startswith(STREAM_CLOSE_PREFIX)
                and self.keys.may(_api_key(scope), "write:data")):
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json"), (b"content-length", b"4")]})
            await send({"type": "http.response.body", "body": b"null"})
            return
        await self.app(scope, receive, send)

    def __getattr__(self, name):  # the wrapped app's attributes (state, routes...) for whoever asks
        if name == "app":
            raise AttributeError(name)
        return getattr(self.app, name)


def app_factory():
    """Tiled's app, configured by ``TILED_CONFIG`` as ``tiled.server.app:app_factory`` does, with key
    lookups remembered, dependency graphs built once and, when Tiled streams nothing, stream closes
    answered at once."""
    keys = _remember_valid_keys()
    _build_dependency_graphs_once()
    from tiled.config import parse_configs
    from tiled.server.app import build_app_from_config

    config = parse_configs(os.getenv("TILED_CONFIG", "config.yml"))
    app = build_app_from_config(config)
    webhooks = config.webhooks is not None and bool(config.webhooks.secret_keys)  # no keys: no dispatcher
    if config.streaming_cache is None and not webhooks:
        return QuietStreamClose(app, keys)
    return app
