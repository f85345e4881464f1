"""Indexes on a PostgreSQL catalog for the searches mxsight makes, beyond Tiled's own.

Tiled indexes run metadata for containment only (a GIN index: ``@>``, which equality searches use).
A date range (``Key("start.time") >= t``) or an outcome (``Like("stop.reason", "Name:%")``) would
read every run's metadata on each page of results, so their cost grows with the catalog. These
expression indexes let PostgreSQL read only the matching runs. Each expression is exactly the one
Tiled's SQL compares (``metadata #> '{start,time}'`` as JSONB, ``metadata #>> '{stop,reason}'`` as
text), or the planner could not use it; ``tests/test_tiled_server.py`` checks that against the SQL
Tiled generates. ``mxsight tiled serve`` creates them (once; later starts find them there).
"""

from __future__ import annotations

QUERY_INDEXES: dict[str, str] = {  # name: the indexed expression, with its operator class
    # find_alignments(since=, until=): JSONB comparison of the start document's time
    "ix_mxsight_start_time": "(metadata #> '{start,time}')",
    # find_alignments(outcome="SampleNotFound"): a prefix LIKE on the stop document's reason
    "ix_mxsight_stop_reason": "(metadata #>> '{stop,reason}') text_pattern_ops",
}


def index_statements() -> list[str]:
    """The ``CREATE INDEX IF NOT EXISTS`` statements, one per index of :data:`QUERY_INDEXES`."""
    return [f"CREATE INDEX IF NOT EXISTS {name} ON nodes ({expression})" for name, expression in QUERY_INDEXES.items()]


async def create_query_indexes(catalog_uri: str) -> None:
    """Create the indexes in the catalog database at ``catalog_uri`` (an asyncpg SQLAlchemy URI)
    unless they exist, and refresh the planner's statistics so that it weighs them."""
    import asyncpg

    connection = await asyncpg.connect(catalog_uri.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        for statement in index_statements():
            await connection.execute(statement)
        await connection.execute("ANALYZE nodes")
    finally:
        await connection.close()
