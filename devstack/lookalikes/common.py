"""What the look-alike CRMs share: requests and answers, routing, counting, rate windows, search lag.

Each CRM's own behaviour lives in its module (``zendesk``, ``salesforce``, ``freshdesk``,
``kustomer``); ``server`` serves them all on one port with admin endpoints.
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any
from urllib.parse import unquote

MINUTE, DAY = 60.0, 86_400.0
# Search and filter indexes lag behind writes: "a few minutes" (Zendesk search,
# https://developer.zendesk.com/api-reference/ticketing/ticket-management/search/ ;
# Freshdesk filter, https://developers.freshdesk.com/api/#filter_tickets). On by default,
# so that nothing may quietly depend on a record being searchable at once.
DEFAULT_SEARCH_LAG_MS = 120_000
UPLOAD_TTL = 3600.0  # Zendesk upload tokens expire after 60 minutes (see zendesk.py)
# The CRM users (agents) every look-alike knows, by e-mail: the platform's agents map onto them.
AGENTS = {
    "noam@example.test": 7001,
    "ana@example.com": 7002,
    "agent@example.test": 7003,
    "admin@example.test": 9001,  # the default admin user of the tests
    "bot@example.com": 42,
}


@dataclass
class Limits:
    per_minute: int = 0  # 0: no limit
    per_day: int = 0
    search_lag_ms: int = DEFAULT_SEARCH_LAG_MS
    upload_ttl_s: float = UPLOAD_TTL
    clock_offset_s: float = 0.0  # tests move the index clock with their own virtual clock


@dataclass
class Answer:
    status: int
    body: Any = None  # JSON-able, or bytes as they are
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str  # after the CRM prefix
    query: dict[str, str]
    headers: Message
    body: bytes
    base: str  # http://host:port/{crm}
    root: str  # http://host:port

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def form(self) -> tuple[dict[str, str], list[tuple[str, str, str, bytes]], list[str]]:
        """Multipart fields, files (name, filename, type, bytes) and the order of the parts."""
        head = f"Content-Type: {self.headers.get('Content-Type', '')}\r\n\r\n".encode()
        message = BytesParser(policy=policy.HTTP).parsebytes(head + self.body)
        fields: dict[str, str] = {}
        files: list[tuple[str, str, str, bytes]] = []
        order: list[str] = []
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition") or ""
            payload = part.get_payload(decode=True) or b""
            order.append(name)
            if part.get_filename() is None:
                fields[name] = payload.decode()
            else:
                files.append((name, part.get_filename(), part.get_content_type(), payload))
        return fields, files, order

    def is_multipart(self) -> bool:
        return self.headers.get("Content-Type", "").startswith("multipart/form-data")


def iso_z(at: float, millis: bool = False) -> str:
    spec = "milliseconds" if millis else "seconds"
    return datetime.fromtimestamp(at, UTC).isoformat(timespec=spec).replace("+00:00", "Z")


def basic_credentials(req: Request) -> tuple[str, str] | None:
    value = req.headers.get("Authorization", "")
    if not value.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, password


def bearer(req: Request) -> str | None:
    value = req.headers.get("Authorization", "")
    return value[7:] if value.startswith("Bearer ") and len(value) > 7 else None


Handler = Callable[..., Answer]


class FakeCrm:
    """What the four look-alikes share: routing, counting, windows, auth check, search lag."""

    name = ""
    exempt_routes: frozenset[str] = frozenset()

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.routes: list[tuple[str, re.Pattern[str], Handler, str]] = []
        self.reset()

    def reset(self) -> None:
        self.minute: deque[float] = deque()
        self.day: deque[float] = deque()
        self.requests = 0
        self.throttled = 0
        self.by_route: Counter[str] = Counter()
        self.indexed_at: dict[str, float] = {}
        self.next_id = 1
        self.faults: deque[int] = deque()  # statuses the next API calls answer (outages)

    def route(self, method: str, pattern: str, handler: Handler, label: str) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler, label))

    def serve(self, req: Request, now: float) -> Answer:
        self.requests += 1
        for method, pattern, handler, label in self.routes:
            match = pattern.match(req.path)
            if match and method == req.method:
                self.by_route[f"{method} {label}"] += 1
                if self.faults:
                    status = self.faults.popleft()
                    return Answer(status, {"error": "injected", "status": status})
                if label not in self.exempt_routes:
                    wait = self.admit(now)
                    if wait is not None:
                        self.throttled += 1
                        return self.throttle_answer(wait, now)
                    if not self.authorized(req):
                        return self.unauthorized()
                answer = handler(req, **{k: unquote(v) for k, v in match.groupdict().items()})
                answer.headers.update(self.usage_headers(now))
                return answer
        self.by_route[f"{req.method} (unknown)"] += 1
        return self.not_found()

    def admit(self, now: float) -> float | None:
        """None when the call fits the windows (and is counted), else the seconds to wait."""
        for window, span in ((self.minute, MINUTE), (self.day, DAY)):
            while window and window[0] <= now - span:
                window.popleft()
        limits = self.hub.limits
        if limits.per_minute and len(self.minute) >= limits.per_minute:
            return self.minute[0] + MINUTE - now
        if limits.per_day and len(self.day) >= limits.per_day:
            return self.day[0] + DAY - now
        self.minute.append(now)
        self.day.append(now)
        return None

    def throttle_answer(self, wait: float, now: float) -> Answer:
        return Answer(
            429,
            {"error": "TooManyRequests", "description": "Rate limit exceeded"},
            {"Retry-After": str(max(1, math.ceil(wait)))},
        )

    def usage_headers(self, now: float) -> dict[str, str]:
        return {}

    def authorized(self, req: Request) -> bool:
        raise NotImplementedError

    def unauthorized(self) -> Answer:
        return Answer(401, {"error": "Couldn't authenticate you"})

    def not_found(self) -> Answer:
        return Answer(404, {"error": "RecordNotFound", "description": "Not found"})

    def new_id(self) -> int:
        value, self.next_id = self.next_id, self.next_id + 1
        return value

    def index_now(self) -> float:
        return time.time() + self.hub.limits.clock_offset_s

    def created(self, record_id: Any, now: float) -> None:
        """The record reaches the search index only after the configured lag."""
        self.indexed_at[str(record_id)] = self.index_now() + self.hub.limits.search_lag_ms / 1000

    def searchable(self, record_id: Any, now: float) -> bool:
        return self.indexed_at.get(str(record_id), 0.0) <= self.index_now()

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "throttled": self.throttled,
            "by_route": dict(self.by_route),
        }

    def collections(self) -> dict[str, dict[str, Any]]:
        raise NotImplementedError
