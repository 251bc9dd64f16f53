"""End to end with a CRM: records appear when the rules say, files land on them, once.

The stack runs the look-alike Zendesk; ingest publishes CRM trigger jobs, the
``crm`` function creates records in real time and attaches every file version.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from devstack.local_stack import start_stack, stop_stack
from sessionctl.feed import publish_lines, publish_tick
from shared import bootstrap
from tests.e2e.conftest import using, wait_for
from tests.factory import T0, SessionScript, handled_call, raw
from tests.integration.helpers import unique

pytestmark = pytest.mark.e2e
END = T0 + timedelta(seconds=200)
RULES = {
    "CRM__KIND": "zendesk",
    "CRM__PLATFORM_TAG": "true",
    "CRM__SESSION_TYPE_TAGS": "true",
    "CRM__ABANDONED_CALL_RECORDS": "true",
    "CRM__DEFAULT_ADMIN_USER": "9001",
    "CRM__TITLE_TEMPLATE": "CALL_TYPE CALL_ID via MENU_PATH",
}


@pytest.fixture(scope="module")
def crm_stack(tmp_path_factory) -> Iterator[object]:
    state_dir = tmp_path_factory.mktemp("crm-e2e")
    stack = start_stack(state_dir, extra_env=RULES)
    try:
        with using(stack):
            yield stack
    finally:
        stop_stack(state_dir)


def tickets(stack) -> dict[str, dict]:
    records = httpx.get(f"{stack.fake_crm_url}/_admin/records?crm=zendesk", timeout=10).json()
    return {t["external_id"]: t for t in records["zendesk"]["tickets"].values()}


def metadata(session_id: str) -> dict | None:
    stored = bootstrap.files().read(f"metadata-{session_id}.json")
    return None if stored is None else json.loads(stored.data)


def publish(stack, script) -> None:
    publish_lines(stack, [raw(d) for d in script.docs])


def test_a_record_at_assignment_carries_title_tags_and_every_file_version(crm_stack):
    script = handled_call(unique("crm"))
    key = f"ccaip-{script.session_id}"
    publish(crm_stack, script)
    ticket = wait_for("ticket created in real time", lambda: tickets(crm_stack).get(key))
    assert ticket["subject"] == f"IVR call {script.session_id} via Support > Accounts > Billing"
    assert set(ticket["tags"]) >= {"ujet", "voice_inbound_ivr"}
    publish_tick(crm_stack, END + timedelta(minutes=15))
    doc = wait_for("file", lambda: metadata(script.session_id))
    assert doc["out_ticket_id"] == str(ticket["id"])
    assert doc["out_ticket_url"] and str(ticket["id"]) in doc["out_ticket_url"]
    wait_for(
        "file attached",
        lambda: bootstrap.crm_records().get(script.session_id).attached_version == 1,
    )
    script.at(2000).add("session.csat", {"rating": 4})
    publish(crm_stack, SessionScript(docs=script.docs[-1:]))
    late = T0 + timedelta(seconds=2000)
    wait_for(
        "late event",
        lambda: len(bootstrap.events().load_events(script.session_id)) == len(script.docs),
    )
    publish_tick(crm_stack, late + timedelta(minutes=15))
    wait_for(
        "version 2 attached",
        lambda: bootstrap.crm_records().get(script.session_id).attached_version == 2,
    )
    assert metadata(script.session_id)["out_ticket_id"] == str(ticket["id"])
    assert list(tickets(crm_stack)).count(key) == 1


def test_an_abandoned_call_gets_a_record_for_the_admin_at_its_end(crm_stack):
    s = SessionScript(session_id=unique("crm"))
    s.at(0).add("session.created", {"session_type": "Voice inbound", "end_user": {"id": "u9"}})
    s.at(5).status("queued", 1, queue={"id": "q1", "name": "Sales", "path": "1/q1"})
    s.at(65).add("session.ended", {"final_status": "finished", "disconnected_by": "end_user"})
    publish(crm_stack, s)
    ticket = wait_for(
        "abandoned-call ticket", lambda: tickets(crm_stack).get(f"ccaip-{s.session_id}")
    )
    assert ticket["assignee_id"] in (9001, "9001")


def test_a_chat_that_never_reached_an_agent_gets_no_record_when_abandoned_chats_are_off(crm_stack):
    s = SessionScript(session_id=unique("crm"), channel="chat")
    s.at(0).add("session.created", {"session_type": "Messaging (Web)"})
    s.at(5).status("queued", 1)
    s.at(7).add("chat.message", {"sender": "end_user", "message_id": "m1"})
    s.at(20).add("session.ended", {"final_status": "finished", "disconnected_by": "end_user"})
    publish(crm_stack, s)
    wait_for("events", lambda: len(bootstrap.events().load_events(s.session_id)) == len(s.docs))
    publish_tick(crm_stack, T0 + timedelta(minutes=16))
    wait_for("file", lambda: metadata(s.session_id))
    assert metadata(s.session_id)["out_ticket_id"] is None
    assert f"ccaip-{s.session_id}" not in tickets(crm_stack)


def test_a_job_the_crm_refuses_is_dead_lettered_listed_and_replayed(crm_stack, capsys):
    from pathlib import Path

    from sessionctl.cli import main as sessionctl

    httpx.post(
        f"{crm_stack.fake_crm_url}/_admin/fail",
        json={"crm": "zendesk", "status": 422, "count": 1},
        timeout=10,
    ).raise_for_status()
    script = handled_call(unique("crm"))
    script.docs = [d for d in script.docs if d["type"] != "session.ended"][:5]  # up to assigned
    publish(crm_stack, script)
    letters = wait_for(
        "dead letter",
        lambda: [
            d
            for d in bootstrap.crm_records().dead_letters()
            if d.job["session_id"] == script.session_id
        ],
    )
    assert letters[0].job["trigger"] == "assigned" and "422" in letters[0].error
    assert f"ccaip-{script.session_id}" not in tickets(crm_stack)
    state_dir = str(Path(crm_stack.log_dir).parent)
    assert sessionctl(["--state-dir", state_dir, "crm", "dead-letters"]) == 0
    assert letters[0].id in capsys.readouterr().out
    assert sessionctl(["--state-dir", state_dir, "crm", "replay", letters[0].id]) == 0
    wait_for("record after replay", lambda: tickets(crm_stack).get(f"ccaip-{script.session_id}"))
    assert bootstrap.crm_records().dead_letters() == [
        d for d in bootstrap.crm_records().dead_letters() if d.id != letters[0].id
    ]
