"""The Pub/Sub messages the pipeline writes itself, as pydantic models.

Platform events are validated in ``shared.domain.events``; these are ours: what a
finalizer tick (the finalize job) may carry, and the notice the finalizer
publishes for every file version it writes. A reader validates the bytes into a
model, and a message that does not fit is bad input: logged once and
acknowledged, never retried into dead letters.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class FinalizeTick(BaseModel):
    """A finalizer tick (Cloud Scheduler's, or a test's that stands for a given time).

    ``now`` is honoured only where ``ALLOW_TICK_NOW`` is set; it is an RFC 3339
    date-time with an offset, checked by the domain's strict parser.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    now: str | None = None


class FinalizedNotice(BaseModel):
    """``session.finalized``: one file version was written (topic ``FINALIZED_TOPIC``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    session_id: str
    version: int
    bucket: str
    metadata_object: str
    datastream_object: str
    metadata: dict[str, Any]
