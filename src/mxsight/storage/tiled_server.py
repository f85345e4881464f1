"""``mxsight tiled serve``: a Tiled server for a beamline, its catalog on PostgreSQL or SQLite.

With ``--database postgresql://USER@HOST:PORT/NAME`` the catalog lives in database NAME, the runs'
event tables in NAME_tables and the API keys in NAME_authn (created when missing: the role needs
CREATEDB), and several uvicorn workers serve it; without it, SQLite and DuckDB files in the data
folder and one worker (DuckDB tables take one writing process). Two API keys (:mod:`mxsight.storage.tiled_keys`):
one writes (create, write, register external frames), one only reads. They are stored hashed in the
keys database before the workers start, so no key is ever in a URL, a log or the configuration file.
The server binds to 127.0.0.1 unless told otherwise, and may read the frames under ``DATA/frames`` (or
the ``--frames`` folders: the data folders of the RunEngines that write to it).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from mxsight.storage.catalog_indexes import create_query_indexes
from mxsight.storage.tiled_keys import TiledKeys

WRITE_SCOPES = ["read:metadata", "read:data", "create:node", "write:metadata", "write:data", "register"]
READ_SCOPES = ["read:metadata", "read:data"]


@dataclass(frozen=True)
class Databases:
    catalog: str  # SQLAlchemy async URIs
    tables: str
    authn: str
    several_writers: bool  # PostgreSQL: several workers may write at once

    @classmethod
    def of(cls, database: str | None, data_dir: Path) -> "Databases":
        if database is None:
            return cls(f"sqlite+aiosqlite:///{data_dir / 'catalog.db'}", f"duckdb:///{data_dir / 'tables.duckdb'}", f"sqlite+aiosqlite:///{data_dir / 'authn.db'}", False)
        if not database.startswith(("postgresql://", "postgresql+asyncpg://")):
            raise ValueError(f"--database must be postgresql://USER@HOST:PORT/NAME, got {database.split('@')[-1]!r}")
        base, name = database.split("://", 1)[1].rsplit("/", 1)
        if not name:
            raise ValueError("--database names no database: postgresql://USER@HOST:PORT/NAME")
        return cls(f"postgresql+asyncpg://{base}/{name}", f"postgresql://{base}/{name}_tables", f"postgresql+asyncpg://{base}/{name}_authn", True)


async def _create_postgres_databases(databases: Databases) -> None:
    """Create the three databases on the server when they are missing."""
    import asyncpg

    base = databases.catalog.split("://", 1)[1].rsplit("/", 1)[0]
    connection = await asyncpg.connect(f"postgresql://{base}/postgres")
    try:
        for uri in (databases.catalog, databases.tables, databases.authn):
            name = uri.rsplit("/", 1)[1]
            if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _initialise(uri: str, core) -> bool:
    """Create a Tiled database's tables (catalog or keys) unless they are there; True when created
    (the caller then stamps its migration head, as ``tiled ... init`` does)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from tiled.alembic_utils import UninitializedDatabase, check_database

    engine = create_async_engine(uri)
    try:
        await check_database(engine, core.REQUIRED_REVISION, core.ALL_REVISIONS)
        return False
    except UninitializedDatabase:
        await core.initialize_database(engine)
        return True
    finally:
        await engine.dispose()


async def _seed_keys(authn_uri: str, keys: TiledKeys) -> None:
    """Store the write and read keys (hashed, with their scopes) unless they are stored already."""
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from tiled.authn_database import orm
    from tiled.authn_database.core import create_service, lookup_valid_api_key

    engine = create_async_engine(authn_uri)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            for note, key, scopes in (("mxsight write key", keys.write, WRITE_SCOPES), ("mxsight read key", keys.read, READ_SCOPES)):
                secret = bytes.fromhex(key)
                if await lookup_valid_api_key(session, secret) is not None:
                    continue
                principal = await create_service(session, "admin")  # the key's scopes limit what it may do
                session.add(orm.APIKey(
                    principal_id=principal.id, expiration_time=None, note=note, scopes=scopes, access_tags=None,
                    first_eight=key[:8], hashed_secret=hashlib.sha256(secret).digest(),
                ))
                await session.commit()
    finally:
        await engine.dispose()


def prepare(databases: Databases, keys: TiledKeys) -> None:
    """Databases created and initialised (on PostgreSQL with mxsight's query indexes), keys stored:
    once, before any worker starts (workers that initialise a new database at once race each other)."""
    from tiled.authn_database import alembic_constants as authn_alembic
    from tiled.authn_database import core as authn_core
    from tiled.catalog import alembic_constants as catalog_alembic
    from tiled.catalog import core as catalog_core

    from tiled.alembic_utils import stamp_head

    async def create() -> list[bool]:
        if databases.several_writers:
            await _create_postgres_databases(databases)
        created = [await _initialise(databases.catalog, catalog_core), await _initialise(databases.authn, authn_core)]
        if databases.several_writers:
            await create_query_indexes(databases.catalog)
        return created

    for created, uri, alembic in zip(asyncio.run(create()), (databases.catalog, databases.authn), (catalog_alembic, authn_alembic)):
        if created:
            stamp_head(alembic.ALEMBIC_INI_TEMPLATE_PATH, alembic.ALEMBIC_DIR, uri)  # runs its own event loop
    asyncio.run(_seed_keys(databases.authn, keys))


def server_config(databases: Databases, data_dir: Path, frames: list[Path]) -> dict:
    """Tiled's configuration: API keys only (nobody logs in), no anonymous access, the catalog with
    writable array and table storage and the frames readable. Secrets come from the environment."""
    return {
        "authentication": {
            "providers": [{"provider": "local", "authenticator": "tiled.authenticators:DictionaryAuthenticator", "args": {"users_to_passwords": {}}}],
            "secret_keys": ["${MXSIGHT_TILED_SESSION_SECRET}"],
            "allow_anonymous_access": False,
        },
        "database": {"uri": databases.authn},
        "trees": [{
            "path": "/",
            "tree": "catalog",
            "args": {
                "uri": databases.catalog,
                "writable_storage": [str(data_dir / "data"), databases.tables],
                "readable_storage": [str(folder) for folder in frames],
            },
        }],
    }


def logging_config(log_file: Path) -> dict:
    """Tiled's own logging to ``log_file``, with any ``api_key=`` scrubbed from request lines."""
    from tiled.server.logging_config import LOGGING_CONFIG

    config = json.loads(json.dumps(LOGGING_CONFIG))
    config["filters"]["redact"] = {"()": "mxsight.storage.log_redaction.RedactApiKeys"}
    for handler in config["handlers"].values():
        handler.pop("stream", None)
        handler.update({"class": "logging.FileHandler", "filename": str(log_file), "filters": [*handler.get("filters", []), "redact"]})
    for formatter in config["formatters"].values():
        formatter["use_colors"] = False
    return config


def _private(path: Path, text: str) -> Path:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    os.chmod(path, 0o600)
    return path


def serve(*, data_dir: Path, keys: TiledKeys, database: str | None = None, frames: list[Path] | None = None, host: str = "127.0.0.1", port: int = 8000, workers: int = 4) -> None:
    """Prepare the databases and keys, then become the uvicorn server (this process is replaced).
    ``frames``: the folders whose HDF5 frames runs may reference (default ``data_dir/frames``)."""
    data_dir = Path(data_dir).resolve()
    for folder in (data_dir, data_dir / "data", data_dir / "frames"):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(folder, 0o700)
    databases = Databases.of(database, data_dir)
    workers = workers if databases.several_writers else 1
    prepare(databases, keys)
    frames = [Path(folder).resolve() for folder in frames] if frames else [data_dir / "frames"]
    config = _private(data_dir / "tiled-config.yml", json.dumps(server_config(databases, data_dir, frames), indent=1))
    log_config = _private(data_dir / "tiled-logging.json", json.dumps(logging_config(data_dir / "tiled-server.log")))
    log_file = data_dir / "tiled-server.log"
    os.close(os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))  # private before the server writes it
    os.chmod(log_file, 0o600)
    environment = {**os.environ, "TILED_CONFIG": str(config), "MXSIGHT_TILED_SESSION_SECRET": keys.session_secret}
    environment.pop("TILED_API_KEY", None)
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "mxsight.storage.tiled_app:app_factory",
        "--host", host, "--port", str(port), "--workers", str(workers), "--log-config", str(log_config),
    ]
    print(f"mxsight tiled serve: http://{host}:{port}/api/v1, {workers} worker(s), catalog {databases.catalog.split('@')[-1]}, log {data_dir / 'tiled-server.log'}", flush=True)
    os.execve(sys.executable, command, environment)
