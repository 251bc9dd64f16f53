"""A fault-injecting TCP proxy: put it between a process and a dependency, then break the link.

Why: the pipeline claims to survive a dependency that is down, slow or silent (Firestore,
Pub/Sub, Cloud Storage, a CRM). The emulators never fail on their own, so the chaos runs put
one of these proxies in front of each and inject, for N seconds, one of:

* ``refuse``: nothing listens any more (new connections are refused) and open connections are
  reset, as when the dependency's process is gone;
* ``reset``: connections are accepted and reset at once (RST), open ones too;
* ``delay``: every chunk of bytes, both ways, waits ``delay`` seconds (slowness, timeouts);
* ``blackhole``: connections are accepted, but no byte moves either way until the fault ends
  (a network partition; TCP would retransmit afterwards, so held bytes then flow again).

Works for any TCP protocol (gRPC/HTTP2 of the emulators, HTTP/1.1 of GCS and the CRMs): it
never parses what it forwards. One :class:`ProxyHub` runs any number of proxies on one event
loop in a background thread; ``python -m devstack.faultproxy`` runs a hub as a process with a
small HTTP control port (``POST /fault/NAME?mode=reset&seconds=5``, ``GET /stats``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MODES = ("pass", "refuse", "reset", "delay", "blackhole")
CHUNK = 64 * 1024
POLL = 0.02  # how often a held (black-holed) pump looks again


@dataclass
class Fault:
    """What a proxy does now: ``mode`` until ``until`` (monotonic), then ``pass`` again."""

    mode: str = "pass"
    until: float = 0.0
    delay: float = 0.0


@dataclass
class ProxyStats:
    connections: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    resets: int = 0  # connections we reset (reset/refuse faults)
    faults: Counter[str] = field(default_factory=Counter)  # mode -> times injected
    fault_seconds: float = 0.0  # total seconds of faults asked for

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if k != "faults"}
        out["faults"] = dict(self.faults)
        return out


class FaultProxy:
    """One listening port forwarding to one upstream ``host:port``; faults on demand.

    All methods but :meth:`inject` and :attr:`stats` run on the hub's event loop.
    """

    def __init__(
        self,
        hub: ProxyHub,
        name: str,
        upstream: tuple[str, int],
        port: int,
        patience: float = 0.0,
    ) -> None:
        self.hub = hub
        self.name = name
        self.upstream = upstream
        self.patience = patience  # how long a new connection waits for a down upstream
        self.host = "127.0.0.1"
        self.port = port
        self.stats = ProxyStats()
        self._fault = Fault()
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[_Conn] = set()
        self._reopen: asyncio.TimerHandle | None = None

    @property
    def address(self) -> str:
        """``127.0.0.1:port``: what a client is told the dependency's address is."""
        return f"{self.host}:{self.port}"

    # --- control (any thread) ---------------------------------------------------------------

    def inject(self, mode: str, seconds: float, *, delay: float = 0.5) -> None:
        """Apply ``mode`` for ``seconds`` from now (``pass`` ends any fault at once)."""
        if mode not in MODES:
            raise ValueError(f"unknown fault mode {mode!r}; one of {', '.join(MODES)}")
        if seconds < 0 or delay < 0:
            raise ValueError("seconds and delay must be >= 0")
        future = asyncio.run_coroutine_threadsafe(self._apply(mode, seconds, delay), self.hub.loop)
        future.result(timeout=10)

    def current_mode(self) -> str:
        return self._fault.mode if time.monotonic() < self._fault.until else "pass"

    # --- event loop -------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._reopen is not None:
            self._reopen.cancel()
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self._conns):
            conn.abort(reset=False)

    async def _apply(self, mode: str, seconds: float, delay: float) -> None:
        self._fault = Fault(mode, time.monotonic() + seconds, delay)
        if mode != "pass":
            self.stats.faults[mode] += 1
            self.stats.fault_seconds += seconds
        if mode in ("refuse", "reset"):
            for conn in list(self._conns):
                conn.abort(reset=True)
                self.stats.resets += 1
        if mode == "refuse" and self._server is not None:
            self._server.close()
            self._server = None
            loop = asyncio.get_running_loop()
            self._reopen = loop.call_later(seconds, lambda: loop.create_task(self._listen_again()))

    async def _listen_again(self) -> None:
        self._reopen = None
        if self._server is None and self.hub.running:
            self._server = await asyncio.start_server(
                self._accept, self.host, self.port, reuse_address=True
            )

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        mode = self.current_mode()
        if mode in ("reset", "refuse"):  # refuse: accepted in the instant before closing
            _reset(writer)
            self.stats.resets += 1
            return
        opened = await self._open_upstream()
        if opened is None:
            _reset(writer)  # the dependency itself is down: tell the client the same way
            return
        up_reader, up_writer = opened
        conn = _Conn(self, writer, up_writer)
        self._conns.add(conn)
        try:
            await asyncio.gather(
                self._pump(conn, reader, up_writer, "up"),
                self._pump(conn, up_reader, writer, "down"),
            )
        finally:
            self._conns.discard(conn)
            conn.abort(reset=False)

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """Connect upstream; with ``patience``, wait that long for one that is restarting.

        That is what a serverless front end does while an instance starts: the request
        waits instead of being refused.
        """
        deadline = time.monotonic() + self.patience
        while True:
            try:
                return await asyncio.open_connection(*self.upstream)
            except OSError:
                if time.monotonic() >= deadline:
                    return None
                await asyncio.sleep(0.2)

    async def _pump(
        self, conn: _Conn, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, way: str
    ) -> None:
        try:
            while not conn.closed:
                data = await reader.read(CHUNK)
                if not data:
                    break
                await self._obey(conn)
                if conn.closed:
                    return
                writer.write(data)
                await writer.drain()
                if way == "up":
                    self.stats.bytes_up += len(data)
                else:
                    self.stats.bytes_down += len(data)
            if not conn.closed and writer.can_write_eof():
                writer.write_eof()  # half-close: HTTP/1.0 style peers read until EOF
        except (OSError, asyncio.IncompleteReadError, RuntimeError):
            conn.abort(reset=False)

    async def _obey(self, conn: _Conn) -> None:
        """Hold bytes while black-holed; wait while delayed."""
        while True:
            mode = self.current_mode()
            if mode == "blackhole":
                await asyncio.sleep(POLL)
                continue
            if mode == "delay":
                await asyncio.sleep(self._fault.delay)
            return


class _Conn:
    """Both sides of one proxied connection, so a fault can cut them together."""

    def __init__(
        self, proxy: FaultProxy, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter
    ):
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.closed = False

    def abort(self, *, reset: bool) -> None:
        if self.closed:
            return
        self.closed = True
        if reset:
            _reset(self.client)
            _reset(self.upstream)
        else:
            for writer in (self.client, self.upstream):
                with contextlib.suppress(Exception):
                    writer.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (linger 0), so the peer sees ``connection reset by peer``."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class ProxyHub:
    """Proxies on one event loop in a daemon thread; usable from plain synchronous code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.proxies: dict[str, FaultProxy] = {}
        self.running = True
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="faultproxy", daemon=True
        )
        self._thread.start()

    def add(self, name: str, upstream: str, *, port: int = 0, patience: float = 0.0) -> FaultProxy:
        """A proxy named ``name`` to ``host:port`` (``http://`` accepted) on ``port`` (0: free).

        ``patience``: seconds a new connection waits for an upstream that is down.
        """
        if name in self.proxies:
            raise ValueError(f"a proxy named {name!r} exists already")
        proxy = FaultProxy(self, name, parse_address(upstream), port, patience)
        asyncio.run_coroutine_threadsafe(proxy.start(), self.loop).result(timeout=10)
        self.proxies[name] = proxy
        return proxy

    def stats(self) -> dict[str, dict[str, Any]]:
        return {
            name: p.stats.as_dict() | {"mode": p.current_mode()} for name, p in self.proxies.items()
        }

    def close(self) -> None:
        if not self.running:
            return
        self.running = False

        async def stop_all() -> None:
            for proxy in self.proxies.values():
                await proxy.stop()
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:  # connections still being served
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop_all(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    def __enter__(self) -> ProxyHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_address(text: str) -> tuple[str, int]:
    """``host:port`` or ``http://host:port[/...]`` -> (host, port)."""
    if "://" in text:
        parts = urlsplit(text)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"{text!r}: need a host and a port")
        return parts.hostname, parts.port
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{text!r}: expected host:port")
    return host, int(port)


# --- the process: python -m devstack.faultproxy ---------------------------------------------


def _control_handler(hub: ProxyHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            return

        def _send(self, status: int, body: Any) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:  # noqa: N802
            if self.path.rstrip("/") == "/stats":
                self._send(200, hub.stats())
            else:
                self._send(404, {"error": "GET /stats or POST /fault/NAME?mode=&seconds="})

        def do_POST(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            name = parts.path.removeprefix("/fault/")
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            if not parts.path.startswith("/fault/") or name not in hub.proxies:
                self._send(404, {"error": f"no proxy {name!r}; have {sorted(hub.proxies)}"})
                return
            try:
                hub.proxies[name].inject(
                    query.get("mode", "pass"),
                    float(query.get("seconds", "0")),
                    delay=float(query.get("delay", "0.5")),
                )
            except ValueError as exc:
                self._send(400, {"error": str(exc)})
                return
            self._send(200, hub.stats()[name])

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.faultproxy", description=__doc__)
    parser.add_argument(
        "--route",
        action="append",
        default=[],
        metavar="NAME=LISTEN_PORT:UPSTREAM_HOST:UPSTREAM_PORT",
        help="a proxy (LISTEN_PORT 0: any free port); repeatable",
    )
    parser.add_argument("--control-port", type=int, default=0)
    args = parser.parse_args(argv)
    hub = ProxyHub()
    try:
        for route in args.route:
            name, _, spec = route.partition("=")
            listen, _, upstream = spec.partition(":")
            if not name or not listen.isdigit() or not upstream:
                parser.error(f"--route {route!r}: expected NAME=LISTEN_PORT:HOST:PORT")
            hub.add(name, upstream, port=int(listen))
        server = ThreadingHTTPServer(("127.0.0.1", args.control_port), _control_handler(hub))
        routes = {n: p.address for n, p in hub.proxies.items()}
        print(json.dumps({"control_port": server.server_address[1], "routes": routes}), flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        hub.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
