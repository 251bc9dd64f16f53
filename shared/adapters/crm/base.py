"""What every CRM client offers, and the one mapping of HTTP answers onto CRM errors.

The use case holds a ``CrmClient`` and never sees a status code: throttling
becomes ``CrmThrottled``, 5xx and transport failures ``CrmUnavailable``, any
other 4xx ``CrmRejected``. Clients add their CRM's own signals on top (e.g.
Salesforce's 403 ``REQUEST_LIMIT_EXCEEDED``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx

from shared.crm.errors import CrmRejected, CrmThrottled, CrmUnavailable
from shared.crm.rules import ExistingRecord, NewRecord

ERROR_SNIPPET = 300


@dataclass(frozen=True)
class RecordRef:
    """A record as the metadata file names it: ``out_ticket_id`` and ``out_ticket_url``."""

    id: str
    url: str | None


class FileTarget(Protocol):
    """Somewhere the session's metadata file can be put on an existing record."""

    def attach_file(
        self,
        record_id: str,
        filename: str,
        content: bytes,
        content_type: str,
        replaces: str | None = None,
    ) -> str:
        """Attach the file; return an id to pass as ``replaces`` when the file is rewritten.

        ``replaces`` is the id this method returned for the previous version: a CRM
        that versions files (Salesforce) adds a version to it, the others add the new
        file next to the old one with a note saying it supersedes it.
        """
        ...


class CrmClient(FileTarget, Protocol):
    """One CRM's records, through its own API."""

    name: str

    def create_record(self, record: NewRecord) -> RecordRef:
        """Create the record, with the CRM's own idempotency tool where it has one."""
        ...

    def find_by_external_id(self, external_id: str) -> RecordRef | None:
        """The record already created under this key, if any: look here before creating again."""
        ...

    def find_recent_records(self, end_user_id: str, leaf_queue: str) -> list[ExistingRecord]:
        """Open and reopenable closed records of this end user and leaf queue, newest first."""
        ...

    def reopen(self, record_id: str) -> None:
        """Put a closed record back to the CRM's default open status."""
        ...

    def close(self) -> None:
        """Release the connection pool."""
        ...


class HttpCrm:
    """What the HTTP clients share: one connection pool and the mapping of answers."""

    name: str

    def __init__(
        self,
        *,
        throttle_default: float,
        timeout: float,
        event_hooks: dict[str, list] | None,
        **http_options: Any,
    ) -> None:
        self._throttle_default = throttle_default
        self._http = httpx.Client(timeout=timeout, event_hooks=event_hooks or {}, **http_options)

    def close(self) -> None:
        self._http.close()

    def _send(self, operation: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return send(
            self._http,
            self.name,
            operation,
            method,
            path,
            throttle_default=self._throttle_default,
            **kwargs,
        )


def send(
    http: httpx.Client,
    crm: str,
    operation: str,
    method: str,
    url: str,
    *,
    throttle_default: float,
    checked: bool = True,
    **kwargs: Any,
) -> httpx.Response:
    """One HTTP call, its failures mapped onto the CRM errors.

    ``checked=False`` leaves the status to the caller, which reads its CRM's own
    signals first and then calls ``check``.
    """
    try:
        response = http.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise CrmUnavailable(crm, operation, f"timeout ({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        raise CrmUnavailable(crm, operation, f"transport failure ({type(exc).__name__})") from None
    if checked:
        check(response, crm, operation, throttle_default)
    return response


def check(response: httpx.Response, crm: str, operation: str, throttle_default: float) -> None:
    status = response.status_code
    if status < 400:
        return
    if status == 429:
        wait = retry_after(response, throttle_default)
        raise CrmThrottled(crm, operation, wait, snippet(response), status)
    if status >= 500 or status == 408:
        raise CrmUnavailable(crm, operation, snippet(response), status)
    raise CrmRejected(crm, operation, snippet(response), status)


def retry_after(response: httpx.Response, default: float) -> float:
    """Seconds to wait: ``Retry-After`` (seconds or a date), else ``x-ratelimit-reset``."""
    value = response.headers.get("retry-after")
    if value:
        if value.strip().isdigit():
            return float(value)
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            pass
    reset = response.headers.get("x-ratelimit-reset")
    if reset:
        try:
            number = float(reset)
        except ValueError:
            return default
        # An epoch time or a number of seconds: the vendors differ, the size tells them apart.
        return max(0.0, number - time.time()) if number > 1e9 else number
    return default


def snippet(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:ERROR_SNIPPET] or response.reason_phrase


def parse_time(value: str | None) -> datetime | None:
    """A CRM timestamp (``Z``, ``+00:00`` or Salesforce's ``+0000``) as an aware datetime."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
