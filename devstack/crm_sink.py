"""A local stand-in for a CRM: records every POST so tests can see what was sent.

The CRM function posts to ``WEBHOOK_URL``; locally that URL points here. The sink
accepts anything (always 200), because it exists to observe the pipeline's
output, not to judge it. Records are kept in memory for ``GET /records`` and
appended to a JSON-lines file so they outlive the process and can be read after
``sessionctl local down``.

Run as ``python -m devstack.crm_sink --port P --out FILE``.
"""

from __future__ import annotations

import argparse
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class RecordStore:
    """Thread-safe list of received requests, mirrored to a JSON-lines file."""

    def __init__(self, out: Path | None) -> None:
        self._out = out
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []

    def add(self, record: dict[str, Any]) -> None:
        """Keep one record; the file write sits under the lock so lines never interleave."""
        line = json.dumps(record, sort_keys=True)
        with self._lock:
            self._records.append(record)
            if self._out is not None:
                with self._out.open("a", encoding="utf-8") as fh:
                    fh.write(line + "\n")

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        """Forget the in-memory records; the file is an append-only log and stays."""
        with self._lock:
            self._records.clear()


def _parse_body(raw: bytes) -> tuple[Any, str | None]:
    """Return (parsed JSON, None) or (None, raw text) when the body is not JSON."""
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text), None
    except ValueError:
        return None, text


class SinkHandler(BaseHTTPRequestHandler):
    """Records POSTs on any path; ``/records`` lists (GET) or clears (DELETE) them."""

    server: SinkServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body, text = _parse_body(raw)
        record: dict[str, Any] = {
            "path": self.path,
            "headers": {k: v for k, v in self.headers.items()},
            "json": body,
        }
        if text is not None:
            record["text"] = text
        self.server.store.add(record)
        self._send_json(HTTPStatus.OK, {"ok": True})

    def do_GET(self) -> None:  # noqa: N802
        if self.path.rstrip("/") == "/records":
            self._send_json(HTTPStatus.OK, self.server.store.all())
        elif self.path in ("/", "/healthz"):
            self._send_json(HTTPStatus.OK, {"ok": True})
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def do_DELETE(self) -> None:  # noqa: N802
        if self.path.rstrip("/") == "/records":
            self.server.store.clear()
            self._send_json(HTTPStatus.OK, {"ok": True})
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def _send_json(self, status: HTTPStatus, payload: Any) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class SinkServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that carries the record store for its handlers."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: RecordStore) -> None:
        super().__init__(address, SinkHandler)
        self.store = store


def make_server(host: str, port: int, out: Path | None) -> SinkServer:
    """Build (and bind) a sink; port 0 picks a free port, read it from ``server_address``."""
    return SinkServer((host, port), RecordStore(out))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local CRM sink: records every POST.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, default=None, help="JSON-lines file of records")
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, args.out)
    print(f"crm sink listening on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
