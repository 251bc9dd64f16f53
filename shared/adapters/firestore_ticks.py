"""Firestore: what each finalizer tick handed out, what its workers did, and the round.

The tick does not write files itself; it hands the due sessions out as jobs to
finalize workers that scale out. Whoever sent the tick (``sessionctl tick``, the
demo, tests) still learns when that work is done and what it did:

- ``finalize_ticks/{tick}``: the dispatch (``now``, ``jobs``, ``sessions``; or
  ``busy_with`` when an earlier round was still running);
- ``finalize_ticks/{tick}/jobs/{n}``: one document per job, written by the worker
  that did it (outcome counts and up to 100 ids each). Workers never write a shared
  document, so thousands of jobs a minute make no hot spot;
- ``finalize_ticks/_round``: which tick's jobs are out. A tick hands jobs out only
  when the last round is accounted for (or its lease ran out), so a backlog larger
  than a minute's work is not handed out again every minute.

A tick is done once every job it published has its document; its record is their sum.
All kept a week.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.adapters.firestore_common import NO_METER, Meter, safe_id, write_if_unchanged

TICKS_COLLECTION = "finalize_ticks"
ROUND_DOC = "_round"
TICK_KEPT = timedelta(days=7)
IDS_KEPT = 100  # session ids listed per outcome; the counts are always whole
OUTCOMES = ("written", "unchanged", "deferred", "failed", "skipped")


class FirestoreTicks:
    """The ``TickLog`` and ``TickBook`` ports on Firestore."""

    def __init__(
        self,
        client: firestore.Client,
        *,
        collection: str = TICKS_COLLECTION,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        meter: Meter = NO_METER,
    ) -> None:
        self._db = client
        self._ticks = client.collection(collection)
        self._wall_clock = wall_clock
        self._meter = meter

    # --- a tick that finalized in-process (no fan-out) -----------------------------------

    def record_tick(self, tick_id: str, now: datetime, outcomes: Mapping[str, list[str]]) -> None:
        """Keep what a tick did in-process: a dispatch of no jobs with the outcomes."""
        wall = self._wall_clock()
        doc: dict[str, Any] = {
            "now": now,
            "dispatched_at": wall,
            "finished_at": wall,
            "jobs": 0,
            "expire_at": wall + TICK_KEPT,
        }
        for outcome, session_ids in outcomes.items():
            doc[outcome] = len(session_ids)
            doc[f"{outcome}_ids"] = session_ids[:IDS_KEPT]
        self._ticks.document(safe_id(tick_id)).set(doc)
        self._meter.count("writes")

    # --- the round ----------------------------------------------------------------------

    def begin_round(self, tick_id: str, lease: timedelta) -> str | None:
        """Take the round for ``tick_id``; the id of the tick still holding it, if any."""
        ref = self._ticks.document(ROUND_DOC)
        seen = ref.get().to_dict() or {}
        holder = seen.get("tick_id")
        wall = self._wall_clock()
        if holder and holder != tick_id and seen["until"] > wall and not self.done(holder):
            return str(holder)

        def take(doc: dict[str, Any] | None) -> tuple[str | None, dict[str, Any] | None]:
            now_holder = (doc or {}).get("tick_id")
            if now_holder not in (holder, tick_id):
                return str(now_holder), None  # another tick took it meanwhile
            return None, {"tick_id": tick_id, "until": wall + lease}

        return write_if_unchanged(self._db, ref, take, meter=self._meter)

    def record_dispatch(
        self, tick_id: str, now: datetime, *, jobs: int, sessions: int, busy_with: str | None
    ) -> None:
        wall = self._wall_clock()
        self._ticks.document(safe_id(tick_id)).set(
            {
                "now": now,
                "dispatched_at": wall,
                "jobs": jobs,
                "sessions": sessions,
                "busy_with": busy_with,
                "expire_at": wall + TICK_KEPT,
            }
        )
        self._meter.count("writes")

    # --- the workers --------------------------------------------------------------------

    def record_job(self, tick_id: str, job: int, outcomes: Mapping[str, list[str]]) -> None:
        """What one job did. The first report stands: a job delivered again after it was
        done finds its sessions written (``skipped``), which says less than the first."""
        wall = self._wall_clock()
        doc: dict[str, Any] = {"finished_at": wall, "expire_at": wall + TICK_KEPT}
        for outcome in OUTCOMES:
            ids = list(outcomes.get(outcome, []))
            doc[outcome] = len(ids)
            doc[f"{outcome}_ids"] = ids[:IDS_KEPT]
        jobs = self._ticks.document(safe_id(tick_id)).collection("jobs")
        with contextlib.suppress(gexc.AlreadyExists):
            jobs.document(f"{job:06d}").create(doc)
            self._meter.count("writes")

    # --- reading ------------------------------------------------------------------------

    def done(self, tick_id: str) -> bool:
        dispatch = self._ticks.document(safe_id(tick_id)).get().to_dict()
        return dispatch is not None and self._reported(tick_id) >= int(dispatch.get("jobs", 0))

    def tick_record(self, tick_id: str) -> dict[str, Any] | None:
        """The tick's dispatch plus the sum of its jobs, once every job reported; else None."""
        ref = self._ticks.document(safe_id(tick_id))
        dispatch: dict[str, Any] | None = ref.get().to_dict()
        if dispatch is None or "jobs" not in dispatch:
            return None
        expected = int(dispatch["jobs"])
        if not expected:
            return {
                **dispatch,
                "finished_at": dispatch.get("finished_at", dispatch["dispatched_at"]),
            }
        if self._reported(tick_id) < expected:
            return None
        record: dict[str, Any] = {**dispatch, "finished_at": dispatch["dispatched_at"]}
        for outcome in OUTCOMES:
            record[outcome], record[f"{outcome}_ids"] = 0, []
        for snapshot in ref.collection("jobs").stream():
            job = snapshot.to_dict() or {}
            record["finished_at"] = max(record["finished_at"], job["finished_at"])
            for outcome in OUTCOMES:
                record[outcome] += job.get(outcome, 0)
                kept = record[f"{outcome}_ids"]
                kept += job.get(f"{outcome}_ids", [])[: IDS_KEPT - len(kept)]
        return record

    def _reported(self, tick_id: str) -> int:
        jobs = self._ticks.document(safe_id(tick_id)).collection("jobs")
        [[count]] = jobs.count().get()
        return int(count.value)
