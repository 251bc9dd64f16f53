"""Billable operations, counted on the wire while a benchmark runs.

Why on the wire: the figures must not depend on how the code under test counts
itself, and they must keep working when that code is reorganised. Firestore and
Pub/Sub are counted by a gRPC interceptor on every emulator channel created while
counting is installed; Cloud Storage by a hook on the HTTP session that talks to
fake-gcs-server. Counts follow the pricing pages' units:

- Firestore: a document read per document a get or query returns (a get that
  finds nothing and a query that returns nothing count one read), a write per
  write in a successful commit, a delete per delete in it; an aggregation query
  counts one read. Commits that fail (``create`` of an existing document, an
  aborted transaction) cost nothing; aborted commits are counted apart.
- Cloud Storage: Class A = uploads and listings, Class B = object reads.
- Pub/Sub: messages, publish requests, and billable bytes (at least 1,000 bytes
  per publish request).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any

import grpc
import requests

MIN_BILLABLE_REQUEST_BYTES = 1000  # Pub/Sub: per publish, push or pull request


@dataclass
class Ops:
    fs_reads: int = 0
    fs_writes: int = 0
    fs_deletes: int = 0
    fs_commits: int = 0
    fs_aborted: int = 0  # commits refused with ABORTED (a transaction attempt lost)
    fs_queries: int = 0
    gcs_class_a: int = 0
    gcs_class_b: int = 0
    ps_messages: int = 0
    ps_publish_requests: int = 0
    ps_billable_bytes: int = 0

    def minus(self, other: Ops) -> Ops:
        return Ops(**{f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)})

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Counter:
    """Thread-safe running totals; ``snapshot()`` then ``since(snapshot)`` gives a phase."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ops = Ops()

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self._ops, name, getattr(self._ops, name) + delta)

    def snapshot(self) -> Ops:
        with self._lock:
            return Ops(**self._ops.as_dict())

    def since(self, start: Ops) -> Ops:
        return self.snapshot().minus(start)

    @contextlib.contextmanager
    def phase(self) -> Iterator[Callable[[], Ops]]:
        """``with counter.phase() as ops: ...; ops()`` is what the block cost."""
        start = self.snapshot()
        end: list[Ops] = []
        try:
            yield lambda: end[0] if end else self.since(start)
        finally:
            end.append(self.since(start))


COUNTER = Counter()


class _CountingResponses:
    """Wraps a server stream, counting the documents it yields; delegates the rest."""

    def __init__(self, call: Any, on_item: Callable[[Any], None], on_end: Callable[[], None]):
        self._call = call
        self._on_item = on_item
        self._on_end = on_end

    def __iter__(self) -> _CountingResponses:
        return self

    def __next__(self) -> Any:
        try:
            item = next(self._call)
        except StopIteration:
            self._on_end()
            raise
        self._on_item(item)
        return item

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)


class _Interceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    def __init__(self, counter: Counter) -> None:
        self._counter = counter

    def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        method = client_call_details.method
        outcome = continuation(client_call_details, request)
        if method.endswith("/Commit"):
            failed = outcome.exception() if hasattr(outcome, "exception") else None
            if failed is None:
                deletes = sum(1 for w in request.writes if w.delete)
                self._counter.add(
                    fs_commits=1, fs_writes=len(request.writes) - deletes, fs_deletes=deletes
                )
            elif getattr(failed, "code", lambda: None)() == grpc.StatusCode.ABORTED:
                self._counter.add(fs_aborted=1)
        elif method.endswith("Firestore/GetDocument"):
            # One document read, found or not (as a missing one in BatchGetDocuments below).
            self._counter.add(fs_reads=1)
        elif method.endswith("Publisher/Publish") and outcome.exception() is None:
            size = sum(
                len(m.data) + sum(len(k) + len(v) for k, v in m.attributes.items()) + 20
                for m in request.messages
            )
            self._counter.add(
                ps_messages=len(request.messages),
                ps_publish_requests=1,
                ps_billable_bytes=max(MIN_BILLABLE_REQUEST_BYTES, size),
            )
        return outcome

    def intercept_unary_stream(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        method = client_call_details.method
        call = continuation(client_call_details, request)
        if method.endswith("/RunQuery"):
            seen = [0]

            def item(response: Any) -> None:
                if "document" in response:
                    seen[0] += 1
                    self._counter.add(fs_reads=1)

            def end() -> None:
                self._counter.add(fs_queries=1, fs_reads=0 if seen[0] else 1)

            return _CountingResponses(call, item, end)
        if method.endswith("/BatchGetDocuments"):

            def got(response: Any) -> None:
                if "found" in response or response.missing:
                    self._counter.add(fs_reads=1)

            return _CountingResponses(call, got, lambda: None)
        if method.endswith("/RunAggregationQuery"):
            return _CountingResponses(call, lambda r: None, lambda: self._counter.add(fs_reads=1))
        return call


_installed: dict[str, Any] = {}


def install(counter: Counter = COUNTER) -> None:
    """Count every emulator channel and storage request created from now on (idempotent)."""
    if _installed:
        return
    original_channel = grpc.insecure_channel
    original_send = requests.Session.send

    def insecure_channel(*args: Any, **kwargs: Any) -> grpc.Channel:
        return grpc.intercept_channel(original_channel(*args, **kwargs), _Interceptor(counter))

    def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        response = original_send(self, request, **kwargs)
        url = request.url or ""
        if "/storage/v1/" in url and response.status_code < 400:
            if request.method in ("POST", "PUT", "PATCH") or (
                request.method == "GET" and url.split("?")[0].endswith("/o")
            ):
                counter.add(gcs_class_a=1)  # an upload, or a listing
            elif request.method == "GET":
                counter.add(gcs_class_b=1)
        return response

    grpc.insecure_channel = insecure_channel  # type: ignore[assignment]
    requests.Session.send = send  # type: ignore[method-assign]
    _installed.update(channel=original_channel, send=original_send)


def uninstall() -> None:
    if not _installed:
        return
    grpc.insecure_channel = _installed.pop("channel")
    requests.Session.send = _installed.pop("send")  # type: ignore[method-assign]
