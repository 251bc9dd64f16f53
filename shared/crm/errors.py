"""The three ways a CRM call fails, as the caller must treat them.

Every client maps its CRM's answers onto these, so the use case decides on a
type, never on a status code: wait and retry (``CrmThrottled``), retry
(``CrmUnavailable``), or give up and keep the error (``CrmRejected``).
Messages carry the CRM, the operation and the status, never credentials.
"""

from __future__ import annotations

from datetime import datetime

from shared.domain.errors import PipelineError, TransientError


class CrmError(PipelineError):
    """Base of the CRM errors."""

    def __init__(self, crm: str, operation: str, detail: str, status: int | None = None) -> None:
        where = f"{crm} {operation}" + (f" -> {status}" if status is not None else "")
        super().__init__(f"{where}: {detail}")
        self.crm = crm
        self.operation = operation
        self.status = status
        self.detail = detail


class CrmThrottled(CrmError, TransientError):
    """The CRM said "not now" (429, Salesforce's REQUEST_LIMIT_EXCEEDED, a daily cap).

    ``retry_after_seconds`` is what the CRM asked for, or the configured
    default when it did not say (Salesforce never does).
    """

    def __init__(
        self,
        crm: str,
        operation: str,
        retry_after_seconds: float,
        detail: str = "throttled",
        status: int | None = None,
    ) -> None:
        super().__init__(crm, operation, f"{detail}; retry after {retry_after_seconds:g}s", status)
        self.retry_after_seconds = retry_after_seconds


class CrmUnavailable(CrmError, TransientError):
    """5xx, timeout or connection failure: the same call may work later."""


class CrmRejected(CrmError):
    """Any other 4xx: the call is wrong for this CRM and repeating it will not help."""


class RecordClosed(CrmRejected):
    """The record is closed for good and takes no update (Zendesk ``closed``: 422).

    Not an end: the session moves to a follow-up record.
    """


class ClaimHeld(TransientError):
    """Another worker is creating this session's record right now."""


class NotYet(TransientError):
    """The job must wait until ``not_before`` (a CRM index lag, a session not yet known)."""

    def __init__(self, reason: str, not_before: datetime) -> None:
        super().__init__(f"{reason}; not before {not_before.isoformat(timespec='seconds')}")
        self.reason = reason
        self.not_before = not_before


class WebhookRejected(PipelineError):
    """The webhook receiver refused the post for good (a 4xx other than 408/429)."""
