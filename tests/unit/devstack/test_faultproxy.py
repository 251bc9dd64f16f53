"""The fault proxy: every mode, on a real TCP echo server (no emulator needed)."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from devstack.faultproxy import ProxyHub, parse_address


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def hub() -> Iterator[ProxyHub]:
    with ProxyHub() as running:
        yield running


def _roundtrip(port: int, payload: bytes = b"ping", timeout: float = 2.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        return sock.recv(4096)


def test_pass_forwards_both_ways(hub: ProxyHub, echo: int) -> None:
    proxy = hub.add("echo", f"127.0.0.1:{echo}")
    assert _roundtrip(proxy.port, b"hello") == b"hello"
    deadline = time.monotonic() + 2  # counted just after the bytes were handed on
    while hub.stats()["echo"]["bytes_down"] < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (hub.stats()["echo"]["bytes_up"], hub.stats()["echo"]["bytes_down"]) == (5, 5)


def test_refuse_stops_listening_then_listens_again(hub: ProxyHub, echo: int) -> None:
    proxy = hub.add("echo", f"127.0.0.1:{echo}")
    proxy.inject("refuse", 0.6)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()
    time.sleep(0.8)
    assert _roundtrip(proxy.port) == b"ping"


def test_reset_cuts_open_and_new_connections(hub: ProxyHub, echo: int) -> None:
    proxy = hub.add("echo", f"127.0.0.1:{echo}")
    open_conn = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    open_conn.sendall(b"a")
    assert open_conn.recv(10) == b"a"
    proxy.inject("reset", 0.5)
    with pytest.raises(ConnectionResetError):
        open_conn.sendall(b"b")
        open_conn.recv(10) or open_conn.send(b"c")  # EOF alone would not be a reset
    open_conn.close()
    with pytest.raises(ConnectionResetError):
        _roundtrip(proxy.port)
    time.sleep(0.7)
    assert _roundtrip(proxy.port) == b"ping"
    assert hub.stats()["echo"]["faults"] == {"reset": 1}


def test_delay_slows_every_chunk(hub: ProxyHub, echo: int) -> None:
    proxy = hub.add("echo", f"127.0.0.1:{echo}")
    proxy.inject("delay", 5, delay=0.3)
    started = time.monotonic()
    assert _roundtrip(proxy.port) == b"ping"
    assert time.monotonic() - started >= 0.6  # 0.3 s up and 0.3 s down
    proxy.inject("pass", 0)
    started = time.monotonic()
    assert _roundtrip(proxy.port) == b"ping"
    assert time.monotonic() - started < 0.3


def test_blackhole_holds_bytes_until_it_ends(hub: ProxyHub, echo: int) -> None:
    proxy = hub.add("echo", f"127.0.0.1:{echo}")
    proxy.inject("blackhole", 1.0)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=0.4) as sock:
        sock.sendall(b"held")
        with pytest.raises(TimeoutError):
            sock.recv(10)  # accepted, but silent
        sock.settimeout(3)
        assert sock.recv(10) == b"held"  # the partition heals; held bytes flow


def test_upstream_down_looks_like_a_reset(hub: ProxyHub) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        dead_port = unused.getsockname()[1]
    proxy = hub.add("dead", f"127.0.0.1:{dead_port}")
    with pytest.raises((ConnectionResetError, ConnectionAbortedError)):
        data = _roundtrip(proxy.port)
        assert data, "the connection closed without a reset"
        raise AssertionError(f"got {data!r} from a dead upstream")


def test_patience_holds_a_connection_until_the_upstream_is_back(hub: ProxyHub) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    proxy = hub.add("restarting", f"127.0.0.1:{port}", patience=5)
    server = socketserver.ThreadingTCPServer(("127.0.0.1", port), _Echo, bind_and_activate=False)
    server.daemon_threads = True
    server.allow_reuse_address = True

    def start_late() -> None:
        time.sleep(0.8)  # the instance is restarting meanwhile
        server.server_bind()
        server.server_activate()
        server.serve_forever()

    threading.Thread(target=start_late, daemon=True).start()
    try:
        assert _roundtrip(proxy.port, b"waited", timeout=4) == b"waited"
    finally:
        server.shutdown()
        server.server_close()


def test_bad_mode_and_address_are_refused(hub: ProxyHub, echo: int) -> None:
    proxy = hub.add("echo", f"http://127.0.0.1:{echo}/path")
    assert proxy.upstream == ("127.0.0.1", echo)
    with pytest.raises(ValueError, match="unknown fault mode"):
        proxy.inject("explode", 1)
    with pytest.raises(ValueError, match="host:port"):
        parse_address("localhost")
