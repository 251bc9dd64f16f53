"""The local stack behaves like the cloud where the pipeline depends on it.

Three promises are checked: fake-gcs-server refuses a second create-only upload
(the finalizer's last duplicate guard), the Pub/Sub emulator pushes to the URL
path functions-framework reads the topic from, and ``stop_stack`` leaves no
process behind (the gcloud wrapper's java child included).
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.api_core.exceptions import PreconditionFailed
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from devstack import local_stack
from devstack.local_stack import (
    FUNCTION_NAMES,
    Stack,
    StackError,
    load_stack,
    pubsub_clients,
    start_stack,
    stop_stack,
)

pytestmark = pytest.mark.emulators

# A throwaway function: records the CloudEvent it got, so the wiring can be
# tested without the real functions (functions=True needs a main.py per function).
_RECORDING_FUNCTION = """
import json
import os

import functions_framework


@functions_framework.cloud_event
def {name}(event):
    record = {{"function": "{name}", "source": event["source"], "id": event["id"],
              "data": event.data, "delay": os.environ.get("FINALIZE_DELAY_SECONDS")}}
    with open(os.environ["RECORD_FILE"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\\n")
"""


def _wait_for(predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll until ``predicate`` returns something truthy; push delivery is asynchronous."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s")


def _groups_members(pgids: set[int]) -> list[tuple[int, str]]:
    """(pid, command line) of every process whose process group is one of ``pgids``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[2]) in pgids:
            members.append((int(entry.name), cmdline))
    return members


def _java_serving(ports: set[int]) -> list[str]:
    """Command lines of java processes serving one of ``ports`` (the emulators' JVMs)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "java" in cmdline and any(f"--port={p} " in cmdline + " " for p in ports):
            found.append(cmdline)
    return found


# --------------------------------------------------------------------------- Cloud Storage


def test_second_create_only_upload_is_refused_with_412(emulators: Stack) -> None:
    client = storage.Client(project=emulators.project, credentials=AnonymousCredentials())
    bucket = client.bucket(emulators.bucket)
    name = f"tests/{uuid.uuid4()}.json"

    bucket.blob(name).upload_from_string('{"v": 1}', if_generation_match=0)
    with pytest.raises(PreconditionFailed) as refused:
        bucket.blob(name).upload_from_string('{"v": 2}', if_generation_match=0)

    assert refused.value.code == 412
    assert bucket.blob(name).download_as_text() == '{"v": 1}'


# --------------------------------------------------------------------------- Pub/Sub push


class _PushRecorder(BaseHTTPRequestHandler):
    """Acks every push with 204 and keeps (path, JSON body) for the test."""

    received: list[tuple[str, dict[str, Any]]]

    def do_POST(self) -> None:  # noqa: N802 - stdlib handler name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append((self.path, json.loads(body)))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: pytest shows stderr of failing tests, and these lines are noise."""


@pytest.fixture
def push_endpoint() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PushRecorder)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.received  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def test_event_published_to_events_topic_is_pushed_to_the_topic_path(
    emulators: Stack, push_endpoint: tuple[str, list[tuple[str, dict[str, Any]]]]
) -> None:
    base_url, received = push_endpoint
    publisher, subscriber = pubsub_clients(emulators)
    topic = publisher.topic_path(emulators.project, emulators.topics["events"])
    subscription = subscriber.subscription_path(emulators.project, f"test-push-{uuid.uuid4().hex}")
    subscriber.create_subscription(
        request={
            "name": subscription,
            "topic": topic,
            "ack_deadline_seconds": 60,
            "push_config": {"push_endpoint": f"{base_url}/{topic}"},
        }
    )
    try:
        message_id = publisher.publish(topic, b'{"hello": "push"}', origin="test").result()
        path, body = _wait_for(lambda: received and received[0])
    finally:
        subscriber.delete_subscription(subscription=subscription)
        subscriber.close()
        publisher.transport.close()

    assert path == f"/{topic}"
    assert body["subscription"] == subscription
    assert body["message"]["messageId"] == message_id
    assert body["message"]["attributes"] == {"origin": "test"}
    assert base64.b64decode(body["message"]["data"]) == b'{"hello": "push"}'


# --------------------------------------------------------------------------- whole stack


@pytest.fixture
def throwaway_functions(tmp_path: Path) -> Path:
    """A functions dir with one recording function per name the stack starts."""
    root = tmp_path / "functions"
    for name in FUNCTION_NAMES:
        (root / name).mkdir(parents=True)
        (root / name / "main.py").write_text(_RECORDING_FUNCTION.format(name=name))
    return root


def test_full_stack_wires_topics_to_functions_and_stops_without_leftovers(
    tmp_path: Path, throwaway_functions: Path
) -> None:
    state_dir = tmp_path / "state"
    records = tmp_path / "records.jsonl"
    stack = start_stack(
        state_dir,
        functions_dir=throwaway_functions,
        extra_env={"FINALIZE_DELAY_SECONDS": "900", "RECORD_FILE": str(records)},
    )
    try:
        assert load_stack(state_dir) == stack
        assert "export PUBSUB_EMULATOR_HOST=" in (state_dir / "stack.env").read_text()
        _check_each_topic_reaches_its_function(stack, records)
        _check_push_subscriptions_carry_no_retry_policy(stack)
        _check_crm_sink_records_posts(stack)
        pgids = set(stack.processes.values())
        java_before = _java_serving(_emulator_ports(stack))
        assert len(java_before) == 2, java_before  # Firestore and Pub/Sub JVMs
    finally:
        stop_stack(state_dir)

    for name, pgid in stack.processes.items():
        with pytest.raises(ProcessLookupError):
            os.killpg(pgid, 0)
            pytest.fail(f"process group of {name} ({pgid}) is still alive")
    assert _groups_members(pgids) == []
    assert _java_serving(_emulator_ports(stack)) == []
    stop_stack(state_dir)  # idempotent
    with pytest.raises(StackError, match="no local stack is up"):
        load_stack(state_dir)


def _emulator_ports(stack: Stack) -> set[int]:
    return {int(host.rsplit(":", 1)[1]) for host in (stack.firestore_host, stack.pubsub_host)}


def _check_each_topic_reaches_its_function(stack: Stack, records: Path) -> None:
    """events->ingest, ticks->finalize, finalize_jobs->finalize_worker, finalized->crm,
    with the topic in the source."""
    publisher, subscriber = pubsub_clients(stack)
    try:
        for key in ("events", "ticks", "finalize_jobs", "finalized"):
            publisher.publish(
                publisher.topic_path(stack.project, stack.topics[key]), b"{}"
            ).result()
        lines = _wait_for(lambda: records.exists() and len(records.read_text().splitlines()) >= 4)
        tapped = subscriber.pull(
            subscription=subscriber.subscription_path(stack.project, stack.tap_subscription),
            max_messages=10,
            timeout=10,
        )
    finally:
        subscriber.close()
        publisher.transport.close()
    assert lines
    got = {r["function"]: r for r in map(json.loads, records.read_text().splitlines())}
    expected = {
        "ingest": "events",
        "finalize": "ticks",
        "finalize_worker": "finalize_jobs",
        "crm": "finalized",
    }
    for function, key in expected.items():
        topic_path = f"projects/{stack.project}/topics/{stack.topics[key]}"
        assert got[function]["source"] == f"//pubsub.googleapis.com/{topic_path}"
        assert got[function]["delay"] == "900"
    assert len(tapped.received_messages) == 1


def _check_push_subscriptions_carry_no_retry_policy(stack: Stack) -> None:
    """The emulator strands messages under a retry policy (see the burst tests below)."""
    publisher, subscriber = pubsub_clients(stack)
    try:
        for key in local_stack.TOPIC_FUNCTIONS:
            name = subscriber.subscription_path(stack.project, stack.subscriptions[key])
            subscription = subscriber.get_subscription(subscription=name)
            assert "retry_policy" not in subscription, key
            assert subscription.push_config.push_endpoint, key
    finally:
        subscriber.close()
        publisher.transport.close()


class _FailingTwice(BaseHTTPRequestHandler):
    """Answers the first two pushes of each message with 500, then 200; notes the 200s."""

    def do_POST(self) -> None:  # noqa: N802 - stdlib handler name
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        message_id = body["message"]["messageId"]
        server: Any = self.server
        with server.lock:
            server.attempts[message_id] = server.attempts.get(message_id, 0) + 1
            failing = server.attempts[message_id] <= 2
            if not failing:
                server.delivered.add(message_id)
        self.send_response(500 if failing else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet."""


BURST = 200


def _push_burst_failing_twice(
    stack: Stack, request: Callable[[str, str, str], dict[str, Any]], wait: float
) -> tuple[int, int]:
    """Publish BURST messages to a subscription made by ``request``: (delivered, published)."""
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _FailingTwice)
    server.lock, server.attempts, server.delivered = threading.Lock(), {}, set()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    publisher, subscriber = pubsub_clients(stack)
    topic = publisher.topic_path(stack.project, f"test-burst-{uuid.uuid4().hex}")
    publisher.create_topic(name=topic)
    subscription = subscriber.subscription_path(stack.project, f"test-burst-{uuid.uuid4().hex}")
    base = f"http://127.0.0.1:{server.server_address[1]}"
    subscriber.create_subscription(request=request(subscription, topic, base))
    try:
        futures = [publisher.publish(topic, f"m{i}".encode()) for i in range(BURST)]
        published = {future.result() for future in futures}
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not server.delivered >= published:
            time.sleep(0.2)
        return len(server.delivered & published), len(published)
    finally:
        subscriber.delete_subscription(subscription=subscription)
        publisher.delete_topic(topic=topic)
        subscriber.close()
        publisher.transport.close()
        server.shutdown()
        server.server_close()


def test_local_push_subscriptions_redeliver_every_message_of_a_failing_burst(
    emulators: Stack,
) -> None:
    """200 messages, each refused twice at once: every one comes back until taken."""
    delivered, published = _push_burst_failing_twice(
        emulators, local_stack.push_subscription, wait=60
    )
    assert delivered == published == BURST


def test_emulator_strands_failing_pushes_under_a_retry_policy(emulators: Stack) -> None:
    """Why the local stack gives the emulator no retry policy (``push_subscription``).

    The same burst with a 1-5 s backoff: after 40 s, messages are still not redelivered
    (measured: 38 of 200 after 90 s). When this fails, the emulator is fixed: give the
    local subscriptions the deployed policy again.
    """

    def with_policy(name: str, topic: str, base: str) -> dict[str, Any]:
        policy = {"minimum_backoff": {"seconds": 1}, "maximum_backoff": {"seconds": 5}}
        return local_stack.push_subscription(name, topic, base) | {"retry_policy": policy}

    delivered, published = _push_burst_failing_twice(emulators, with_policy, wait=40)
    assert published == BURST
    assert delivered < published


def _check_crm_sink_records_posts(stack: Stack) -> None:
    assert stack.crm_sink_url
    with httpx.Client(trust_env=False, timeout=5) as client:
        client.delete(f"{stack.crm_sink_url}/records").raise_for_status()
        posted = client.post(stack.env()["WEBHOOK_URL"], json={"session_id": "s-1"})
        assert posted.json() == {"ok": True}
        records = client.get(f"{stack.crm_sink_url}/records").json()
    assert [(r["path"], r["json"]) for r in records] == [("/webhook", {"session_id": "s-1"})]
    assert stack.crm_sink_file
    assert json.loads(Path(stack.crm_sink_file).read_text().splitlines()[-1])["path"] == "/webhook"


def test_start_failure_stops_what_started_and_shows_the_log(
    tmp_path: Path, throwaway_functions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (throwaway_functions / "crm" / "main.py").write_text("raise RuntimeError('boom at import')\n")
    state_dir = tmp_path / "state"
    started: list[int] = []
    real_launch = local_stack._launch

    def spying_launch(*args: Any, **kwargs: Any) -> Any:
        launched = real_launch(*args, **kwargs)
        started.append(launched.record.pgid)
        return launched

    monkeypatch.setattr(local_stack, "_launch", spying_launch)

    with pytest.raises(StackError, match="boom at import"):
        start_stack(state_dir, functions_dir=throwaway_functions, crm_sink=False)

    assert len(started) == 3 + len(FUNCTION_NAMES)  # 3 emulators + the functions
    assert _groups_members(set(started)) == []
    assert not (state_dir / "stack.json").exists()
    assert not (state_dir / "processes.json").exists()
