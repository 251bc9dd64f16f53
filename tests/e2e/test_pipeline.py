"""End to end on the emulators: Pub/Sub push -> functions-framework -> Firestore/GCS -> CRM sink.

Each test publishes real messages to the stack's topics and reads only what a user
would: the bucket, the CRM sink, the quarantine. Time moves with ticks carrying
``now`` (ALLOW_TICK_NOW is on in the local stack only).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from sessionctl.cli import main as sessionctl
from sessionctl.feed import publish_lines, publish_tick, wait_tick
from sessionctl.probe import local_probe
from shared import bootstrap
from shared.adapters.webhook import sign
from tests.e2e.conftest import using, wait_for
from tests.factory import T0, handled_call, raw, shaped_call
from tests.integration.helpers import unique

pytestmark = pytest.mark.e2e
END = T0 + timedelta(seconds=200)  # handled_call ends 200 s after its start


@pytest.fixture(scope="module", autouse=True)
def stack_env(e2e_stack) -> Iterator[None]:
    with using(e2e_stack):
        yield


def stored_events(session_id: str) -> int:
    return len(bootstrap.events().load_events(session_id))


def metadata(session_id: str) -> dict | None:
    stored = bootstrap.files().read(f"metadata-{session_id}.json")
    return None if stored is None else json.loads(stored.data)


def posts(stack, session_id: str) -> list[dict]:
    records = httpx.get(f"{stack.crm_sink_url}/records", timeout=10).json()
    return [
        r
        for r in records
        if r["path"].startswith("/webhook")
        and (r.get("json") or {}).get("session_id") == session_id
    ]


def publish_session(stack, script) -> None:
    publish_lines(stack, [raw(d) for d in reversed(script.docs)] + [raw(script.docs[0])])
    wait_for("events stored", lambda: stored_events(script.session_id) == len(script.docs))


def test_events_in_files_and_a_signed_crm_post_out(e2e_stack):
    script = handled_call(unique("e2e"))
    publish_session(e2e_stack, script)
    early = wait_tick(local_probe(), publish_tick(e2e_stack, END + timedelta(minutes=14)))
    assert script.session_id not in early.get("written_ids", [])
    assert metadata(script.session_id) is None  # never early
    publish_tick(e2e_stack, END + timedelta(minutes=15, seconds=30))
    doc = wait_for("metadata file", lambda: metadata(script.session_id))
    assert doc["version"] == 1 and doc["event_count"] == len(script.docs)
    assert doc["call_duration"] == 245 and doc["hold_duration"] == 23
    [post] = wait_for("CRM post", lambda: posts(e2e_stack, script.session_id))
    headers = {k.lower(): v for k, v in post["headers"].items()}
    assert headers["idempotency-key"] == f"{script.session_id}:1"
    body = json.dumps(post["json"], ensure_ascii=False, separators=(",", ":")).encode()
    assert headers["x-signature-sha256"] == sign(e2e_stack.webhook_secret, body)
    assert post["json"]["metadata"] == doc
    assert post["json"]["object"].endswith(f"/metadata-{script.session_id}.json")


def test_two_concurrent_ticks_and_a_late_tick_give_one_version_and_one_post(e2e_stack):
    script = handled_call(unique("e2e"))
    publish_session(e2e_stack, script)
    now = END + timedelta(minutes=16)
    publish_tick(e2e_stack, now)
    publish_tick(e2e_stack, now)
    wait_for("metadata file", lambda: metadata(script.session_id))
    late = wait_tick(local_probe(), publish_tick(e2e_stack, now + timedelta(hours=3)))
    assert script.session_id not in late.get("written_ids", [])  # nothing new to write
    assert metadata(script.session_id)["version"] == 1
    assert len(posts(e2e_stack, script.session_id)) == 1


def test_a_late_event_rewrites_the_file_and_posts_the_new_version(e2e_stack):
    script = handled_call(unique("e2e"))
    publish_session(e2e_stack, script)
    publish_tick(e2e_stack, END + timedelta(minutes=15))
    wait_for("version 1", lambda: metadata(script.session_id))
    script.at(200 + 1800).add("session.csat", {"rating": 4, "comment": "Great job"})
    publish_lines(e2e_stack, [raw(script.docs[-1])])
    wait_for("late event stored", lambda: stored_events(script.session_id) == len(script.docs))
    late = T0 + timedelta(seconds=2000)
    publish_tick(e2e_stack, late + timedelta(minutes=15))
    doc = wait_for(
        "version 2", lambda: (m := metadata(script.session_id)) and m["version"] == 2 and m
    )
    assert doc["rating"] == 4 and doc["updated_at"] > "2023-09-11T07:00:21"
    wait_for("two posts", lambda: len(posts(e2e_stack, script.session_id)) == 2)
    keys = sorted(p["headers"].get("Idempotency-Key") for p in posts(e2e_stack, script.session_id))
    assert keys == [f"{script.session_id}:1", f"{script.session_id}:2"]


def test_bad_input_is_quarantined_listed_and_replayed_after_a_fix(e2e_stack, capsys):
    script = handled_call(unique("e2e"))
    broken = dict(script.docs[-1], occurred_at="last tuesday")
    publish_lines(e2e_stack, [raw(d) for d in script.docs[:-1]] + [raw(broken)])
    wait_for("good events", lambda: stored_events(script.session_id) == len(script.docs) - 1)
    quarantine = bootstrap.quarantine()
    [kept] = wait_for(
        "quarantine",
        lambda: [
            r
            for r in quarantine.list_quarantine()
            if r.attributes.get("session_id") == script.session_id
        ],
    )
    assert kept.reason == "bad_timestamp" and json.loads(kept.raw) == broken
    state_dir = e2e_stack.log_dir.rsplit("/logs", 1)[0]
    assert sessionctl(["--state-dir", state_dir, "quarantine", "list"]) == 0
    assert kept.id in capsys.readouterr().out
    fixed = e2e_stack.log_dir + f"/fixed-{kept.id}.json"
    with open(fixed, "wb") as handle:
        handle.write(raw(script.docs[-1]))
    assert (
        sessionctl(["--state-dir", state_dir, "quarantine", "replay", kept.id, "--data", fixed])
        == 0
    )
    wait_for("fixed event stored", lambda: stored_events(script.session_id) == len(script.docs))
    assert quarantine.get_quarantine(kept.id).replayed_as
    publish_tick(e2e_stack, END + timedelta(minutes=15))
    doc = wait_for("metadata file", lambda: metadata(script.session_id))
    assert doc["event_count"] == len(script.docs)


def test_show_prints_the_live_session_card_before_finalization(e2e_stack, capsys):
    script = handled_call(unique("e2e"))
    script.docs = [d for d in script.docs if d["type"] not in ("session.ended",)][:9]
    publish_lines(e2e_stack, [raw(d) for d in script.docs])
    wait_for("events", lambda: stored_events(script.session_id) == len(script.docs))
    state_dir = e2e_stack.log_dir.rsplit("/logs", 1)[0]
    capsys.readouterr()
    assert sessionctl(["--state-dir", state_dir, "show", script.session_id]) == 0
    card = capsys.readouterr().out
    assert "blue" in card and script.session_id in card
    assert "Noam B" in card and "Billing" in card
    assert "waiting in queue" in card and "connected to agent" in card


def test_shapes_real_producers_send_are_applied_whole_through_the_deployed_path(e2e_stack, capsys):
    script = shaped_call(unique("e2e"))
    publish_session(e2e_stack, script)
    quarantine = bootstrap.quarantine()
    assert [
        r
        for r in quarantine.list_quarantine()
        if r.attributes.get("session_id") == script.session_id
    ] == []
    state_dir = e2e_stack.log_dir.rsplit("/logs", 1)[0]
    capsys.readouterr()
    assert sessionctl(["--state-dir", state_dir, "show", script.session_id]) == 0
    assert "fields left out (unexpected shape): 2" in capsys.readouterr().out
    publish_tick(e2e_stack, T0 + timedelta(seconds=600, minutes=15))
    doc = wait_for("metadata file", lambda: metadata(script.session_id))
    assert doc["event_count"] == len(script.docs) and doc["status"] == "failed"
    assert [t["status"] for t in doc["transfers"]] == ["completed"]
    assert doc["fail_details"] == {"sip": 503} and doc["ends_at"] is not None
    assert doc["call_duration"] == 590 and doc["hold_durations"] == [10, 7]


def test_publish_and_tick_return_once_their_work_is_done(e2e_stack, tmp_path, capsys):
    script = handled_call(unique("e2e"))
    source = tmp_path / "events.jsonl"
    lines = [raw(d) for d in reversed(script.docs)] + [raw(script.docs[2]), b"{broken"]
    source.write_bytes(b"\n".join(lines) + b"\n")
    state_dir = e2e_stack.log_dir.rsplit("/logs", 1)[0]
    assert sessionctl(["--state-dir", state_dir, "publish", str(source)]) == 0
    out = capsys.readouterr().out
    assert f"{len(script.docs)} distinct events stored, 1 rejected messages kept" in out
    assert stored_events(script.session_id) == len(script.docs)
    now = (END + timedelta(minutes=15)).isoformat()
    assert sessionctl(["--state-dir", state_dir, "tick", "--now", now]) == 0
    out = capsys.readouterr().out
    assert f"wrote metadata-{script.session_id}.json" in out
    assert metadata(script.session_id)["version"] == 1  # already there: no polling
