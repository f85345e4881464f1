"""Finding alignments again: by sample, date range and outcome."""

from __future__ import annotations

from datetime import datetime

from tiled.queries import Eq, Key, Like

OUTCOME_SUCCESS = "success"


def find_alignments(
    catalog,
    *,
    sample_id: str | None = None,
    since: str | float | None = None,
    until: str | float | None = None,
    outcome: str | None = None,
    plan_name: str | None = "auto_centre",
):
    """Runs in ``catalog`` (a Tiled container) matching every given criterion.

    ``since``/``until`` take POSIX timestamps, datetimes or ISO dates in local time ("2026-11-24",
    "2026-11-24 10:00"). ``outcome`` is "success" or the name of a failure such as "SampleNotFound".
    """
    results = catalog
    if plan_name is not None:
        results = results.search(Key("start.plan_name") == plan_name)
    if sample_id is not None:
        results = results.search(Key("start.sample_id") == sample_id)
    if since is not None:
        results = results.search(Key("start.time") >= _timestamp(since))
    if until is not None:
        results = results.search(Key("start.time") <= _timestamp(until))
    if outcome is not None:
        if outcome == OUTCOME_SUCCESS:
            results = results.search(Eq("stop.exit_status", OUTCOME_SUCCESS))
        else:
            results = results.search(Like("stop.reason", f"{outcome}:%"))
    return results


def _timestamp(when: str | float | datetime) -> float:
    """POSIX seconds from a timestamp, a datetime, or an ISO date string (local time)."""
    if isinstance(when, (int, float)):
        return float(when)
    if isinstance(when, datetime):
        return when.timestamp()
    try:
        return datetime.fromisoformat(when).timestamp()
    except (TypeError, ValueError):
        raise ValueError(f"cannot read {when!r} as a date; use a timestamp or an ISO date like '2026-11-24 10:00'") from None


def find_collection_group(catalog, group: str, *, plan_name: str | None = None):
    """The runs of one ``multi_orientation_collection`` (``collection_group``), optionally one plan's;
    sort them by ``start.orientation_index``."""
    results = catalog.search(Key("start.collection_group") == group)
    if plan_name is not None:
        results = results.search(Key("start.plan_name") == plan_name)
    return results
