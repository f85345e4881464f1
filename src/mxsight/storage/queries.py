"""Finding alignments again: by sample, date range and outcome."""

from __future__ import annotations

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

    ``since``/``until`` take timestamps or human-friendly dates ("2026-11-24 10:00"). ``outcome`` is
    "success" or the name of a failure such as "SampleNotFound" or "FitNotConfident".
    """
    from bluesky_tiled_plugins.queries import TimeRange

    results = catalog
    if plan_name is not None:
        results = results.search(Key("start.plan_name") == plan_name)
    if sample_id is not None:
        results = results.search(Key("start.sample_id") == sample_id)
    if since is not None or until is not None:
        results = results.search(TimeRange(since=since, until=until))
    if outcome is not None:
        if outcome == OUTCOME_SUCCESS:
            results = results.search(Eq("stop.exit_status", OUTCOME_SUCCESS))
        else:
            results = results.search(Like("stop.reason", f"{outcome}:%"))
    return results
