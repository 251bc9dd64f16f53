"""The Pub/Sub messages the pipeline writes itself, as pydantic models.

Platform events are validated in ``shared.domain.events``; these are ours: what a
finalizer tick (the finalize job) may carry, the notice the finalizer
publishes for every file version it writes, and the CRM jobs. A reader validates the bytes into a
model, and a message that does not fit is bad input: logged once and
acknowledged, never retried into dead letters.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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


# -- CRM jobs (topic crm-jobs; the crm function also receives session.finalized) -----------


class CrmTriggerJob(BaseModel):
    """A moment the CRM rules may act on: published by ingest, re-published by the drain."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    session_id: str = Field(min_length=1)
    trigger: Literal["assigned", "connected", "end_user_message", "ended"]
    published_at: datetime | None = None

    @property
    def job_id(self) -> str:
        return f"{self.session_id}--{self.trigger}"


class CrmFileJob(FinalizedNotice):
    """A ``session.finalized`` notice as the CRM function reads it: a file to attach."""

    session_id: str = Field(min_length=1)
    version: int = Field(ge=1)

    @property
    def job_id(self) -> str:
        return f"{self.session_id}--v{self.version}"

    @property
    def filename(self) -> str:
        return self.metadata_object.rsplit("/", 1)[-1]


CrmJob = CrmTriggerJob | CrmFileJob


def parse_crm_job(doc: Any) -> CrmJob:
    """A trigger job when it names a trigger, else a file job; ``ValidationError`` if neither."""
    if isinstance(doc, dict) and "trigger" in doc:
        return CrmTriggerJob.model_validate(doc)
    return CrmFileJob.model_validate(doc)


class FinalizeJob(BaseModel):
    """Due sessions a tick hands to one finalize worker (topic ``FINALIZE_JOBS_TOPIC``).

    ``now`` is the tick's time: a worker never finalizes a session that was not due
    by then, however late the job is delivered. ``tick_id`` and ``job`` name the
    document the worker reports to, so that the tick's sender can add the jobs up.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    tick_id: str = Field(min_length=1)
    job: int = Field(ge=0)
    now: datetime
    session_ids: list[str] = Field(min_length=1)
