"""What every CRM client offers, and the one mapping of HTTP answers onto CRM errors.

The use case holds a ``CrmClient`` and never sees a status code: throttling
becomes ``CrmThrottled``, 5xx and transport failures ``CrmUnavailable``, any
other 4xx ``CrmRejected``. Clients add their CRM's own signals on top (e.g.
Salesforce's 403 ``REQUEST_LIMIT_EXCEEDED``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

import httpx

from shared.crm.errors import CrmRejected, CrmThrottled, CrmUnavailable
from shared.crm.rules import RecordRef
from shared.ports import CrmClient, FileTarget

__all__ = [
    "CrmClient",
    "FileTarget",
    "FetchedOnce",
    "HttpCrm",
    "RecordRef",
    "Usage",
    "check",
    "send",
]

ERROR_SNIPPET = 300
# (remaining calls, limit, seconds until the window resets): what a CRM says of its budget.
Usage = Callable[[int, int, float], None]
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class FetchedOnce(Generic[K, V]):
    """A cache of CRM look-ups (agents, end users) whose misses cost one call, not one per worker.

    Every call spends the CRM's per-minute limit: when a burst starts, all the
    workers miss the same agent at once, and a plain cache let each of them look it
    up (16 searches for one agent in the benchmark's burst). Here the first caller of
    a key fetches it while the others wait for its answer; a fetch that fails leaves
    the key to the next caller.
    """

    def __init__(self) -> None:
        self._values: dict[K, V] = {}
        self._fetching: dict[K, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: K, fetch: Callable[[], V]) -> V:
        with self._lock:
            if key in self._values:
                return self._values[key]
            key_lock = self._fetching.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._values:
                    return self._values[key]
            value = fetch()
            with self._lock:
                self._values[key] = value
                self._fetching.pop(key, None)
            return value


class HttpCrm:
    """What the HTTP clients share: one connection pool and the mapping of answers.

    Every answer's usage headers go to ``on_usage`` (the call budget), so the
    budget slows down before the CRM's limit instead of after its 429.
    """

    name: str
    index_lag_seconds: float = 0.0

    def __init__(
        self,
        *,
        throttle_default: float,
        timeout: float,
        event_hooks: dict[str, list[Any]] | None,
        on_usage: Usage | None = None,
        **http_options: Any,
    ) -> None:
        self._throttle_default = throttle_default
        self._on_usage = on_usage
        hooks = {k: list(v) for k, v in (event_hooks or {}).items()}
        if on_usage is not None:
            hooks.setdefault("response", []).append(self._read_usage)
        self._http = httpx.Client(timeout=timeout, event_hooks=hooks, **http_options)

    def usage(self, response: httpx.Response) -> tuple[int, int, float] | None:
        """The CRM's remaining calls, its limit and the seconds to the window's reset."""
        return None

    def _read_usage(self, response: httpx.Response) -> None:
        try:
            seen = self.usage(response)
        except (ValueError, TypeError):
            return  # a header we cannot read says nothing
        if seen is not None and self._on_usage is not None:
            self._on_usage(*seen)

    def complete(self, record_id: str, record: Any) -> None:
        """Nothing more to do once the record exists (Kustomer adds its tags here)."""

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


def created_time(value: str | None) -> datetime:
    """A record's creation time; every CRM returns one (without it the record sorts first)."""
    return parse_time(value) or datetime.min.replace(tzinfo=UTC)


def parse_time(value: str | None) -> datetime | None:
    """A CRM timestamp (``Z``, ``+00:00`` or Salesforce's ``+0000``) as an aware datetime."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
