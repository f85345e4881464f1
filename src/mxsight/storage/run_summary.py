"""A run's outcome in a few searchable values, folded from its documents as they are written.

Tiled searches metadata, not stream data: whether a crystal was found, the movement model used, how
many frames the network was unsure of live in the ``results`` and ``predictions`` streams. The
:class:`RunSummary` folds the documents of one run into ``metadata["summary"]`` so those questions are
one query (``Key("summary.crystal_found") == True``), for plain Tiled clients as well as mxsight's.
"""

from __future__ import annotations

from collections.abc import Mapping

SUCCESS = "success"
MOVED = "moved"


class RunSummary:
    """Folds bluesky documents into the summary of the run they belong to (one run at a time).

    ``outcome`` is "success", the failure's name (``SampleNotFound``...), "aborted" or "failed" (an
    error that is not an alignment failure); ``target``, ``model`` and ``residual_rms_px`` are those of
    the last pass that moved the sample; ``crystal_found`` says that pass centred a crystal.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.start_doc: Mapping | None = None
        self._stream_of: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        self._moved: dict | None = None
        self._passes_moved = 0
        self._failure: tuple[str, str] | None = None
        self._unsure_frames = 0

    def __call__(self, name: str, doc: Mapping) -> None:
        handler = getattr(self, f"_{name}", None)
        if handler is not None:
            handler(doc)

    def _start(self, doc: Mapping) -> None:
        self._reset()
        self.start_doc = doc

    def _descriptor(self, doc: Mapping) -> None:
        self._stream_of[doc["uid"]] = doc.get("name", "primary")

    def _event(self, doc: Mapping) -> None:
        stream = self._stream_of.get(doc["descriptor"], "")
        self._counts[stream] = self._counts.get(stream, 0) + 1
        data = doc["data"]
        if stream == "results":
            self._result(data)
        elif stream == "predictions" and data.get("predictions_unsure", False):
            self._unsure_frames += 1

    def _result(self, data: Mapping) -> None:
        outcome = data.get("results_outcome", "")
        if outcome == MOVED:
            self._moved = data
            self._passes_moved += 1
        elif outcome:
            self._failure = (str(outcome), str(data.get("results_message", "")))

    def summary(self, stop_doc: Mapping) -> dict[str, object]:
        """The summary of the run that ``stop_doc`` closes."""
        moved = self._moved or {}
        exit_status = stop_doc.get("exit_status", "")
        reason = str(stop_doc.get("reason", "") or "")
        if exit_status == SUCCESS:
            outcome, message = SUCCESS, ""
        elif self._failure is not None and reason.startswith(f"{self._failure[0]}:"):
            outcome, message = self._failure  # the failure that ended the run (a skipped pass's does not)
        elif exit_status == "abort":
            outcome, message = "aborted", reason
        else:
            outcome, message = "failed", reason
        target = str(moved.get("results_target", ""))
        residual = moved.get("results_residual_rms_px")
        return {
            "outcome": outcome,
            "reason": message,
            "target": target,
            "crystal_found": target == "crystal",
            "model": str(moved.get("results_model", "")),
            "residual_rms_px": None if residual is None else float(residual),
            "passes_moved": self._passes_moved,
            "frames": self._counts.get("primary", 0),
            "unsure_frames": self._unsure_frames,
        }
