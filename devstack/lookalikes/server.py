"""Look-alike CRM servers, so that every client runs its real HTTP path in tests and demos.

One process serves the four CRMs under path prefixes of one port
(``http://host:port/zendesk``, ``/salesforce``, ``/freshdesk``, ``/kustomer``),
each with its own records, request counters and rate-limit windows, plus an
optional SMTP sink for the e-mail delivery. They answer like the CRM where the
clients depend on it: endpoints, auth schemes, status codes, JSON shapes and
ids, throttling (429 + ``Retry-After``; Kustomer's ``x-ratelimit-reset``;
Salesforce's 403 ``REQUEST_LIMIT_EXCEEDED``), Zendesk's ``Idempotency-Key``,
and search lag (a record shows up in search endpoints only ``search_lag_ms``
after it was created; direct reads and list endpoints see it at once).
Credentials are checked for their form, not their value, and never stored.

Admin endpoints (not counted, not limited): ``GET /_admin/records[?crm=]``,
``GET /_admin/stats``, ``GET /_admin/emails``, ``POST /_admin/reset``,
``POST /_admin/config`` (``per_minute``, ``per_day``, ``search_lag_ms`` (on by default:
the vendors' indexes lag), ``upload_ttl_s``),
``PATCH /_admin/records/{crm}/{collection}/{id}`` (merge fields, e.g. to age a
record), ``POST /_admin/fail`` (``{"crm", "status", "count"}``: the next API
calls answer that status, for outages) and ``POST /_admin/salesforce/expire-tokens``.

Run: ``python -m devstack.lookalikes.server --port 8765 [--per-minute N] [--per-day N]
[--search-lag-ms N] [--smtp-port P]``.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devstack.lookalikes.common import (
    DEFAULT_SEARCH_LAG_MS,
    Answer,
    FakeCrm,
    Limits,
    Request,
)
from devstack.lookalikes.freshdesk import FakeFreshdesk
from devstack.lookalikes.kustomer import FakeKustomer
from devstack.lookalikes.salesforce import FakeSalesforce
from devstack.lookalikes.smtp import SmtpSink
from devstack.lookalikes.zendesk import FakeZendesk


class FakeCrms:
    """All four look-alikes and their shared settings; thread-safe behind one lock."""

    def __init__(
        self, per_minute: int = 0, per_day: int = 0, search_lag_ms: int = DEFAULT_SEARCH_LAG_MS
    ) -> None:
        self.limits = Limits(per_minute, per_day, search_lag_ms)
        self.lock = threading.RLock()
        self.crms: dict[str, FakeCrm] = {
            crm.name: crm
            for crm in (
                FakeZendesk(self),
                FakeSalesforce(self),
                FakeFreshdesk(self),
                FakeKustomer(self),
            )
        }
        self.emails: list[dict[str, Any]] = []

    def reset(self) -> None:
        with self.lock:
            for crm in self.crms.values():
                crm.reset()
            self.emails.clear()

    def dispatch(
        self, method: str, target: str, headers: Message, body: bytes, host: str
    ) -> Answer:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        root = f"http://{host}"
        with self.lock:
            if parts.path.startswith("/_admin"):
                return self.admin(method, parts.path, query, body)
            prefix, _, rest = parts.path.lstrip("/").partition("/")
            if parts.path.startswith("/_storage/kustomer/"):
                req = Request(method, parts.path, query, headers, body, root, root)
                return self.crms["kustomer"].storage_upload(req, parts.path.rsplit("/", 1)[-1])
            crm = self.crms.get(prefix)
            if crm is None:
                return Answer(404, {"error": f"no CRM at /{prefix}"})
            req = Request(method, "/" + rest, query, headers, body, f"{root}/{prefix}", root)
            return crm.serve(req, time.time())

    def admin(self, method: str, path: str, query: dict[str, str], body: bytes) -> Answer:
        if method == "GET" and path == "/_admin/records":
            wanted = query.get("crm")
            return Answer(
                200,
                {
                    name: crm.collections()
                    for name, crm in self.crms.items()
                    if wanted in (None, name)
                },
            )
        if method == "GET" and path == "/_admin/stats":
            stats: dict[str, Any] = {name: crm.stats() for name, crm in self.crms.items()}
            stats["limits"] = vars(self.limits)
            stats["emails"] = len(self.emails)
            return Answer(200, stats)
        if method == "GET" and path == "/_admin/emails":
            return Answer(200, {"emails": self.emails})
        if method == "POST" and path == "/_admin/reset":
            self.reset()
            return Answer(200, {"reset": True})
        if method == "POST" and path == "/_admin/config":
            changes = json.loads(body or b"{}")
            for key in ("per_minute", "per_day", "search_lag_ms", "upload_ttl_s", "clock_offset_s"):
                if key in changes:
                    setattr(self.limits, key, type(getattr(self.limits, key))(changes[key]))
            return Answer(200, vars(self.limits))
        if method == "POST" and path == "/_admin/fail":
            fault = json.loads(body or b"{}")
            crm = self.crms.get(fault.get("crm", ""))
            if crm is None:
                return Answer(404, {"error": "no such CRM"})
            crm.faults.extend([int(fault.get("status", 503))] * int(fault.get("count", 1)))
            return Answer(200, {"pending": list(crm.faults)})
        if method == "POST" and path == "/_admin/salesforce/expire-tokens":
            self.crms["salesforce"].tokens.clear()  # type: ignore[attr-defined]
            return Answer(200, {"expired": True})
        match = re.fullmatch(r"/_admin/records/(\w+)/(\w+)/([^/]+)", path)
        if method == "PATCH" and match:
            crm = self.crms.get(match[1])
            collection = crm.collections().get(match[2]) if crm else None
            record = collection.get(match[3]) if collection is not None else None
            if record is None:
                return Answer(404, {"error": "no such record"})
            changes = json.loads(body or b"{}")
            nested = changes.pop("attributes", None)  # Kustomer keeps its fields there
            record.update(changes)
            if isinstance(nested, dict):
                record.setdefault("attributes", {}).update(nested)
            return Answer(200, record)
        return Answer(404, {"error": "unknown admin endpoint"})


class FakeCrmServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], hub: FakeCrms) -> None:
        super().__init__(address, FakeCrmHandler)
        self.hub = hub


class FakeCrmHandler(BaseHTTPRequestHandler):
    server: FakeCrmServer
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        answer = self.server.hub.dispatch(self.command, self.path, self.headers, body, host)
        if isinstance(answer.body, bytes):
            payload, content_type = answer.body, "application/xml"
        elif answer.body is None:
            payload, content_type = b"", None
        else:
            payload, content_type = json.dumps(answer.body).encode(), "application/json"
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if content_type and payload:
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read /_admin/stats instead (and headers may hold credentials)."""


@dataclass
class Running:
    """Started servers: their addresses, the shared state, and how to stop them."""

    hub: FakeCrms
    http: FakeCrmServer
    smtp: SmtpSink | None
    threads: list[threading.Thread]

    @property
    def root(self) -> str:
        host, port = self.http.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, crm: str) -> str:
        return f"{self.root}/{crm}"

    @property
    def smtp_port(self) -> int | None:
        return self.smtp.server_address[1] if self.smtp else None

    def stop(self) -> None:
        for server in (self.http, self.smtp):
            if server is not None:
                server.shutdown()
                server.server_close()
        for thread in self.threads:
            thread.join(timeout=5)


def start(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    per_minute: int = 0,
    per_day: int = 0,
    search_lag_ms: int = DEFAULT_SEARCH_LAG_MS,
    smtp_port: int | None = None,
) -> Running:
    """Serve the fakes from background threads (port 0: any free port)."""
    hub = FakeCrms(per_minute, per_day, search_lag_ms)
    http = FakeCrmServer((host, port), hub)
    smtp = SmtpSink((host, smtp_port), hub) if smtp_port is not None else None
    threads = []
    for server in (http, smtp):
        if server is not None:
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            threads.append(thread)
    return Running(hub, http, smtp, threads)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Look-alike Zendesk/Salesforce/Freshdesk/Kustomer")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--per-minute", type=int, default=0, help="requests per minute, per CRM")
    parser.add_argument("--per-day", type=int, default=0, help="requests per 24 h, per CRM")
    parser.add_argument(
        "--search-lag-ms",
        type=int,
        default=DEFAULT_SEARCH_LAG_MS,
        help="delay before search and filter endpoints see a new record",
    )
    parser.add_argument("--smtp-port", type=int, default=None, help="also run an SMTP sink")
    args = parser.parse_args(argv)
    running = start(
        args.host,
        args.port,
        per_minute=args.per_minute,
        per_day=args.per_day,
        search_lag_ms=args.search_lag_ms,
        smtp_port=args.smtp_port,
    )
    names = ", ".join(running.url(name) for name in running.hub.crms)
    smtp = f"; SMTP on {args.host}:{running.smtp_port}" if running.smtp else ""
    print(f"fake CRMs: {names}{smtp}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()


if __name__ == "__main__":
    main()
