"""The key memory of ``mxsight tiled serve`` (mxsight.storage.tiled_app): valid keys remembered for
their time only, unknown and expired keys never, scopes resolved as Tiled resolves them."""

import asyncio
import time
from datetime import datetime, timedelta, timezone

from tiled.authn_database import orm

from mxsight.storage.tiled_app import RememberedKeys


def _key(scopes, role_scopes, expires=None):
    principal = orm.Principal(type="service", roles=[orm.Role(name="r", scopes=role_scopes)])
    return orm.APIKey(scopes=scopes, principal=principal, expiration_time=expires, first_eight="00000000", hashed_secret=b"")


class Lookup:
    """Tiled's lookup, counting its calls; ``found`` is what it finds."""

    def __init__(self, found):
        self.found, self.calls = found, 0

    async def __call__(self, db, secret):
        self.calls += 1
        return self.found


def test_a_valid_key_is_looked_up_once_per_ttl():
    lookup = Lookup(_key(["read:metadata"], ["read:metadata"]))
    keys = RememberedKeys(lookup, ttl_s=0.3)
    for _ in range(3):
        assert asyncio.run(keys(None, b"secret")) is lookup.found
    assert lookup.calls == 1
    time.sleep(0.35)
    asyncio.run(keys(None, b"secret"))
    assert lookup.calls == 2


def test_unknown_and_expired_keys_are_never_remembered():
    unknown = Lookup(None)
    keys = RememberedKeys(unknown)
    assert asyncio.run(keys(None, b"x")) is None and asyncio.run(keys(None, b"x")) is None
    assert unknown.calls == 2
    expired = Lookup(_key(["read:metadata"], ["read:metadata"], expires=datetime.now(timezone.utc) - timedelta(seconds=1)))
    keys = RememberedKeys(expired)
    asyncio.run(keys(None, b"y"))
    asyncio.run(keys(None, b"y"))
    assert expired.calls == 2 and not keys.may(b"y".hex(), "read:metadata")


def test_scopes_are_the_keys_within_its_principals():
    keys = RememberedKeys(Lookup(_key(["write:data", "read:data"], ["read:data"])))
    asyncio.run(keys(None, b"w"))
    assert keys.may(b"w".hex(), "read:data") and not keys.may(b"w".hex(), "write:data")
    inherit = RememberedKeys(Lookup(_key(["inherit"], ["write:data"])))
    asyncio.run(inherit(None, b"i"))
    assert inherit.may(b"i".hex(), "write:data")
    assert not inherit.may("not hex", "write:data") and not inherit.may(b"never seen".hex(), "write:data")
