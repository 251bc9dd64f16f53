"""Each CRM client over real HTTP against its look-alike server (devstack.lookalikes.server)."""

from __future__ import annotations

import base64
import hashlib
import logging
import socket
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from devstack import lookalikes
from shared.adapters.crm import EmailFileSender, crm_client
from shared.adapters.crm.base import CrmClient
from shared.crm import rules
from shared.crm.errors import CrmRejected, CrmThrottled, CrmUnavailable, RecordClosed
from shared.crm.rules import Assignee, AttachTo, Create, NewRecord
from shared.crm.settings import (
    CrmSettings,
    EmailSettings,
    FreshdeskSettings,
    KustomerSettings,
    SalesforceSettings,
    ZendeskSettings,
)
from shared.domain.events import parse_envelope
from shared.domain.session import reduce_session

CRMS = ["zendesk", "salesforce", "freshdesk", "kustomer"]
SECRETS = {
    "zendesk": "zd-SECRET-7f3a9c",
    "salesforce": "sf-SECRET-b81e44",
    "freshdesk": "fd-SECRET-c02d55",
    "kustomer": "ku-SECRET-9e1f66",
    "email": "smtp-SECRET-4410aa",
}
FILE = b'{"id": "12345", "version": 1}'
FILE_V2 = b'{"id": "12345", "version": 2}'


@pytest.fixture(scope="module")
def fakes():
    running = lookalikes.start(smtp_port=0)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def clean(fakes):
    fakes.hub.reset()
    # The look-alikes lag like the vendors' indexes by default; tests that want it say so.
    fakes.hub.limits = lookalikes.Limits(search_lag_ms=0)
    yield


def settings_for(crm: str, fakes, **extra) -> CrmSettings:
    extra.setdefault("base_url", fakes.url(crm))
    return CrmSettings(
        kind=crm,
        throttle_default_seconds=300,
        zendesk=ZendeskSettings(
            email="bot@example.com",
            api_token=SECRETS["zendesk"],
            end_user_field_id=1001,
            leaf_queue_field_id=1002,
        ),
        salesforce=SalesforceSettings(client_id="client-1", client_secret=SECRETS["salesforce"]),
        freshdesk=FreshdeskSettings(api_key=SECRETS["freshdesk"]),
        kustomer=KustomerSettings(api_key=SECRETS["kustomer"]),
        **extra,
    )


@pytest.fixture(params=CRMS)
def crm(request) -> str:
    return request.param


@pytest.fixture
def client(crm, fakes) -> CrmClient:
    made = crm_client(settings_for(crm, fakes), timeout=5)
    assert made is not None
    yield made
    made.close()


def new_record(session_id: str = "12345", *, leaf: str = "6205", title: str | None = None):
    return NewRecord(
        session_id=session_id,
        external_id=f"ccaip-{session_id}",
        title=title or f"IVR call {session_id}",
        description=f"Session: {session_id}\nMenu: Support > Billing",
        tags=("voice_inbound_ivr", "ujet"),
        channel="voice",
        direction="in",
        session_type="Voice Inbound (IVR)",
        end_user_id="u-1",
        end_user_name="caller-1",
        leaf_queue=leaf,
        assignee=Assignee(user_id="42", email=None, is_admin=True),
    )


def records(fakes, crm: str) -> dict:
    """The CRM's main records, as the look-alike holds them."""
    collections = fakes.hub.crms[crm].collections()
    name = {"zendesk": "tickets", "salesforce": "cases", "freshdesk": "tickets"}.get(
        crm, "conversations"
    )
    return collections[name]


def status_of(crm: str, record: dict):
    if crm == "salesforce":
        return record["Status"]
    if crm == "kustomer":
        return record["attributes"]["status"]
    return record["status"]


# -- create, find, retry -------------------------------------------------------------------


def test_create_then_find_by_external_id(crm, client, fakes):
    ref = client.create_record(new_record())
    assert ref.id and ref.url and ref.id in ref.url
    assert list(records(fakes, crm)) == [ref.id]
    assert client.find_by_external_id("ccaip-12345") == ref
    assert client.find_by_external_id("ccaip-other") is None


def test_created_record_carries_title_tags_and_keys(crm, client, fakes):
    ref = client.create_record(new_record())
    stored = records(fakes, crm)[ref.id]
    if crm == "zendesk":
        assert stored["subject"] == "IVR call 12345"
        assert stored["external_id"] == "ccaip-12345"
        assert stored["tags"] == ["ujet", "voice_inbound_ivr"]
        assert {"id": 1001, "value": "u-1"} in stored["custom_fields"]
        assert stored["assignee_id"] == 42
    elif crm == "salesforce":
        assert stored["Subject"] == "IVR call 12345"
        assert stored["CCAIP_Session_Id__c"] == "ccaip-12345"
        assert stored["CCAIP_Session_Type__c"] == "Voice Inbound (IVR)"
        assert stored["OwnerId"] == "42"
    elif crm == "freshdesk":
        assert stored["subject"] == "IVR call 12345"
        assert stored["custom_fields"]["cf_ccaip_session_id"] == "ccaip-12345"
        assert stored["tags"] == ["voice_inbound_ivr", "ujet"]
        assert (stored["status"], stored["source"], stored["responder_id"]) == (2, 3, 42)
    else:
        attributes = stored["attributes"]
        assert (attributes["name"], attributes["externalId"]) == ("IVR call 12345", "ccaip-12345")
        names = fakes.hub.crms["kustomer"].collections()["tags"]
        assert sorted(names[t]["name"] for t in attributes["tags"]) == ["ujet", "voice_inbound_ivr"]
        assert attributes["assignedUsers"] == ["42"]


def test_look_up_before_creating_again(crm, client, fakes):
    first = client.create_record(new_record())
    # The worker lost the answer: on retry it looks first, as the use case does.
    again = client.find_by_external_id("ccaip-12345") or client.create_record(new_record())
    assert again == first
    assert len(records(fakes, crm)) == 1


@pytest.mark.parametrize("crm", ["zendesk", "salesforce", "kustomer"])
def test_a_blind_retry_uses_the_crms_own_idempotency(crm, client, fakes):
    first = client.create_record(new_record())
    assert client.create_record(new_record()) == first
    assert len(records(fakes, crm)) == 1


def test_zendesk_replays_the_first_answer_for_the_same_key(fakes):
    client = crm_client(settings_for("zendesk", fakes))
    first = client.create_record(new_record())
    response = httpx.post(
        f"{fakes.url('zendesk')}/api/v2/tickets",
        json={"ticket": client._ticket(new_record())},
        headers={"Idempotency-Key": "ccaip-12345-create"},
        auth=("bot@example.com/token", "x"),
    )
    assert response.headers["x-idempotency-lookup"] == "hit"
    assert str(response.json()["ticket"]["id"]) == first.id


def test_zendesk_retry_with_a_changed_body_finds_the_first_ticket(fakes):
    client = crm_client(settings_for("zendesk", fakes))
    first = client.create_record(new_record())
    # The session moved on between attempts: same key, other body -> 400 IdempotentRequestError.
    assert client.create_record(new_record(title="IVR call 12345 (transferred)")) == first
    assert len(records(fakes, "zendesk")) == 1


def test_salesforce_upsert_never_sends_status(fakes):
    client = crm_client(settings_for("salesforce", fakes))
    ref = client.create_record(new_record())
    fakes.hub.crms["salesforce"].cases[ref.id]["Status"] = "Working"  # an agent's change
    client.create_record(new_record())
    assert fakes.hub.crms["salesforce"].cases[ref.id]["Status"] == "Working"


# -- files ---------------------------------------------------------------------------------


def attached_files(fakes, crm: str, record_id: str) -> list[tuple[str, str]]:
    """(file name, sha256) of every file on the record, oldest first."""
    held = fakes.hub.crms[crm].collections()
    if crm == "zendesk":
        comments = held["tickets"][record_id]["comments"]
        return [(a["file_name"], a["sha256"]) for c in comments for a in c["attachments"]]
    if crm == "salesforce":
        versions = sorted(held["content_versions"].values(), key=lambda v: v["Id"])
        return [(v["PathOnClient"], v["Checksum"]) for v in versions]
    if crm == "freshdesk":
        notes = [n for n in held["notes"].values() if str(n["ticket_id"]) == record_id]
        return [(a["name"], a["sha256"]) for n in notes for a in n["attachments"]]
    notes = [
        n
        for n in held["notes"].values()
        if n["relationships"]["conversation"]["data"]["id"] == record_id
    ]
    ids = [a["_id"] for n in notes for a in n["attributes"]["attachments"]]
    attachments = held["attachments"]
    return [
        (attachments[i]["attributes"]["name"], attachments[i]["attributes"]["sha256"]) for i in ids
    ]


def digest(crm: str, content: bytes) -> str:
    return (
        hashlib.md5(content).hexdigest()
        if crm == "salesforce"
        else hashlib.sha256(content).hexdigest()
    )


def test_attach_file_then_update_it_on_rewrite(crm, client, fakes):
    ref = client.create_record(new_record())
    first = client.attach_file(ref.id, "metadata-12345.json", FILE, "application/json")
    assert attached_files(fakes, crm, ref.id) == [("metadata-12345.json", digest(crm, FILE))]

    second = client.attach_file(
        ref.id, "metadata-12345.json", FILE_V2, "application/json", replaces=first
    )
    files = attached_files(fakes, crm, ref.id)
    assert files[-1] == ("metadata-12345.json", digest(crm, FILE_V2))
    if crm == "salesforce":  # a new version of the same document
        assert second == first
        versions = fakes.hub.crms["salesforce"].versions.values()
        assert sorted(v["VersionNumber"] for v in versions) == ["1", "2"]
        assert {v["ContentDocumentId"] for v in versions} == {first}


def test_salesforce_file_is_published_to_the_case(fakes):
    client = crm_client(settings_for("salesforce", fakes))
    ref = client.create_record(new_record())
    document = client.attach_file(ref.id, "metadata-12345.json", FILE, "application/json")
    links = fakes.hub.crms["salesforce"].links
    assert links == [{"ContentDocumentId": document, "LinkedEntityId": ref.id}]


def test_kustomer_upload_does_not_carry_the_api_key(fakes):
    client = crm_client(settings_for("kustomer", fakes))
    ref = client.create_record(new_record())
    attachment = client.attach_file(ref.id, "metadata-12345.json", FILE, "application/json")
    stored = fakes.hub.crms["kustomer"].attachments[attachment]["attributes"]
    assert stored["status"] == "uploaded"
    assert stored["uploadHadAuthorization"] is False


# -- same end user and leaf queue, reopen --------------------------------------------------


def close(fakes, crm: str, record_id: str, days_ago: float) -> None:
    at = time.time() - days_ago * 86_400
    iso = datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    changes = {
        "zendesk": {"status": "solved", "updated_at": iso},
        "salesforce": {"Status": "Closed", "IsClosed": True, "ClosedDate": lookalikes.sf_time(at)},
        "freshdesk": {"status": 5, "updated_at": iso},
        "kustomer": {"attributes": {"status": "done", "updatedAt": iso}},
    }[crm]
    collection = {"salesforce": "cases", "kustomer": "conversations"}.get(crm, "tickets")
    response = httpx.patch(
        f"{fakes.root}/_admin/records/{crm}/{collection}/{record_id}", json=changes
    )
    assert response.status_code == 200


def test_get_record_reads_status_and_its_own_end_user_and_leaf_queue(crm, client, fakes):
    ref = client.create_record(new_record("100"))
    other = client.create_record(new_record("101", leaf="4563"))
    found = client.get_record(ref.id)
    assert (found.id, found.is_open, found.locked) == (ref.id, True, False)
    assert (found.end_user_id, found.leaf_queue) == ("u-1", "6205")
    assert client.get_record(other.id).leaf_queue == "4563"  # the record's, not the caller's
    missing = {"salesforce": "500000000999AAA", "kustomer": "f" * 24}.get(crm, "99999")
    assert client.get_record(missing) is None
    state_settings = CrmSettings(attach_to_open_record_same_leaf_queue=True)
    state = _state_of_end_user_in_leaf_queue()
    now = datetime.now(UTC)
    assert rules.route(state, state_settings, [found], now) == AttachTo(ref.id, False, ref.url)
    assert rules.route(state, state_settings, [client.get_record(other.id)], now) == Create()


def test_reopen_a_record_closed_within_n_days(crm, client, fakes):
    ref = client.create_record(new_record("200"))
    close(fakes, crm, ref.id, days_ago=3)
    found = client.get_record(ref.id)
    assert (found.id, found.is_open) == (ref.id, False)
    assert abs((datetime.now(UTC) - found.closed_at) - timedelta(days=3)) < timedelta(minutes=1)

    settings = CrmSettings(
        attach_to_open_record_same_leaf_queue=True, attach_to_closed_within_days=7
    )
    decision = rules.route(_state_of_end_user_in_leaf_queue(), settings, [found], datetime.now(UTC))
    assert decision == AttachTo(ref.id, reopen=True, url=ref.url)
    client.reopen(decision.record_id)
    expected = {"zendesk": "open", "salesforce": "New", "freshdesk": 2, "kustomer": "open"}[crm]
    assert status_of(crm, records(fakes, crm)[ref.id]) == expected
    assert client.get_record(ref.id).is_open


def test_zendesk_closed_tickets_are_locked_and_followed_up(fakes):
    client = crm_client(settings_for("zendesk", fakes))
    ref = client.create_record(new_record())
    with pytest.raises(CrmRejected) as caught:  # only a closed ticket can be followed up
        client.create_record(replace(new_record(), external_id="x-1"), follow_up_of=ref.id)
    assert caught.value.status == 422
    fakes.hub.crms["zendesk"].tickets[int(ref.id)]["status"] = "closed"
    assert client.get_record(ref.id).locked
    with pytest.raises(RecordClosed):
        client.reopen(ref.id)
    with pytest.raises(RecordClosed):
        client.attach_file(ref.id, "metadata-12345.json", FILE, "application/json")
    follow = client.create_record(
        replace(new_record(), external_id=f"ccaip-12345-followup-{ref.id}"), follow_up_of=ref.id
    )
    assert records(fakes, "zendesk")[follow.id]["via_followup_source_id"] == int(ref.id)


def test_zendesk_links_the_caller_as_requester_once(fakes):
    client = crm_client(settings_for("zendesk", fakes))
    first = client.create_record(new_record("1"))
    again = crm_client(settings_for("zendesk", fakes))  # another instance, no cache
    second = again.create_record(new_record("2"))
    held = records(fakes, "zendesk")
    assert held[first.id]["requester_id"] == held[second.id]["requester_id"]
    users = fakes.hub.crms["zendesk"].users
    assert users[held[first.id]["requester_id"]]["external_id"] == "u-1"


def test_zendesk_upload_tokens_expire(fakes):
    fakes.hub.limits.upload_ttl_s = 0.2
    response = httpx.post(
        f"{fakes.url('zendesk')}/api/v2/uploads",
        params={"filename": "a.json"},
        content=b"{}",
        auth=("bot@example.com/token", "x"),
    )
    token = response.json()["upload"]["token"]
    time.sleep(0.3)
    ticket = {"subject": "s", "comment": {"body": "b", "uploads": [token]}}
    late = httpx.post(
        f"{fakes.url('zendesk')}/api/v2/tickets",
        json={"ticket": ticket},
        auth=("bot@example.com/token", "x"),
    )
    assert late.status_code == 422


def test_zendesk_idempotency_key_with_another_body_is_a_400(fakes):
    url, auth = f"{fakes.url('zendesk')}/api/v2/tickets", ("bot@example.com/token", "x")
    body = {"ticket": {"subject": "s", "comment": {"body": "b"}}}
    first = httpx.post(url, json=body, headers={"Idempotency-Key": "k1"}, auth=auth)
    same = httpx.post(url, json=body, headers={"Idempotency-Key": "k1"}, auth=auth)
    other = httpx.post(
        url,
        json={"ticket": {**body["ticket"], "subject": "t"}},
        headers={"Idempotency-Key": "k1"},
        auth=auth,
    )
    assert (first.status_code, same.status_code, other.status_code) == (201, 201, 400)
    assert same.json() == first.json() and same.headers["x-idempotency-lookup"] == "hit"
    assert "IdempotentRequestError" in other.text


def test_salesforce_keeps_assignment_rules_off_unless_configured(fakes):
    client = crm_client(settings_for("salesforce", fakes))
    ref = client.create_record(new_record())
    assert records(fakes, "salesforce")[ref.id]["OwnerId"] == "42"
    client.reopen(ref.id)
    assert records(fakes, "salesforce")[ref.id]["OwnerId"] == "42"
    rules_on = settings_for("salesforce", fakes)
    rules_on.salesforce.auto_assign = "TRUE"
    other = crm_client(rules_on).create_record(new_record("2"))
    assert records(fakes, "salesforce")[other.id]["OwnerId"] == "005000000000DEFAULT"


def test_salesforce_300_on_a_shared_external_id_uses_the_oldest_case(fakes):
    client = crm_client(settings_for("salesforce", fakes))
    first = client.create_record(new_record())
    cases = fakes.hub.crms["salesforce"].cases
    twin = dict(cases[first.id], Id="500999999999999AAA")
    cases[twin["Id"]] = twin  # an operator's import made a second case with the key
    assert client.create_record(new_record()) == first
    assert client.find_by_external_id("ccaip-12345") == first


def test_salesforce_links_one_contact_and_maps_the_agent_by_email(fakes):
    client = crm_client(settings_for("salesforce", fakes))
    agent = Assignee(user_id="a-1", email="noam@example.test", is_admin=False)
    one = client.create_record(replace(new_record("1"), assignee=agent))
    two = client.create_record(replace(new_record("2"), assignee=agent))
    held = records(fakes, "salesforce")
    assert held[one.id]["ContactId"] == held[two.id]["ContactId"] is not None
    users = fakes.hub.crms["salesforce"].users
    assert users[held[one.id]["OwnerId"]]["Email"] == "noam@example.test"


def test_salesforce_refuses_unknown_fields(fakes):
    settings = settings_for("salesforce", fakes)
    settings.salesforce.session_type_field = "No_Such_Field__c"
    with pytest.raises(CrmRejected) as caught:
        crm_client(settings).create_record(new_record())
    assert caught.value.status == 400 and "INVALID_FIELD" in caught.value.detail


def test_freshdesk_refuses_unknown_custom_fields(fakes):
    settings = settings_for("freshdesk", fakes)
    settings.freshdesk.leaf_queue_field = "cf_no_such_field"
    with pytest.raises(CrmRejected) as caught:
        crm_client(settings).create_record(new_record())
    assert caught.value.status == 400 and "cf_no_such_field" in caught.value.detail


def test_freshdesk_contact_race_is_resolved_by_reading_again(fakes):
    one = crm_client(settings_for("freshdesk", fakes))
    two = crm_client(settings_for("freshdesk", fakes))
    first = one.create_record(new_record("1"))
    # The second instance never saw the contact: its create answers 409, it reads it.
    httpx_post = httpx.post(
        f"{fakes.url('freshdesk')}/api/v2/contacts",
        json={"name": "x", "unique_external_id": "u-1"},
        auth=("k", "X"),
    )
    assert httpx_post.status_code == 409
    second = two.create_record(new_record("2"))
    held = records(fakes, "freshdesk")
    assert held[first.id]["requester_id"] == held[second.id]["requester_id"]


def test_kustomer_customer_race_and_tags_after_a_lost_answer(fakes):
    client = crm_client(settings_for("kustomer", fakes))
    created = httpx.post(
        f"{fakes.url('kustomer')}/v1/customers",
        json={"name": "c", "externalId": "u-1"},
        headers={"Authorization": "Bearer k"},
    )
    assert created.status_code == 201
    again = httpx.post(
        f"{fakes.url('kustomer')}/v1/customers",
        json={"name": "c", "externalId": "u-1"},
        headers={"Authorization": "Bearer k"},
    )
    assert again.status_code == 409  # what a racing worker gets
    ref = client.create_record(new_record())
    conversation = records(fakes, "kustomer")[ref.id]
    assert conversation["relationships"]["customer"]["data"]["id"] == created.json()["data"]["id"]
    conversation["attributes"]["tags"] = []  # the tags call was lost
    client.complete(ref.id, new_record())
    client.complete(ref.id, new_record())
    assert len(conversation["attributes"]["tags"]) == 2


def test_notes_and_files_are_found_again_by_their_marker(crm, client, fakes):
    ref = client.create_record(new_record())
    client.add_note(ref.id, "Session 9 attached [ccaip-9]")
    assert any("[ccaip-9]" in body for body in client.notes(ref.id))
    assert client.find_file(ref.id, "metadata-12345.json (version 1)") is None
    attached = client.attach_file(
        ref.id,
        "metadata-12345.json",
        FILE,
        "application/json",
        marker="metadata-12345.json (version 1)",
    )
    assert client.find_file(ref.id, "metadata-12345.json (version 1)") == attached


def test_usage_headers_reach_the_budget(crm, fakes):
    seen = []
    client = crm_client(
        settings_for(crm, fakes), timeout=5, on_usage=lambda *usage: seen.append(usage)
    )
    client.create_record(new_record())
    assert seen and all(remaining <= limit for remaining, limit, _ in seen)


def _state_of_end_user_in_leaf_queue():
    """A call of end user u-1 from the menu whose leaf is 6205."""
    created = {
        "spec": "session-event/v1",
        "event_id": "e1",
        "session_id": "300",
        "channel": "voice",
        "type": "session.created",
        "occurred_at": "2024-05-01T12:00:00+00:00",
        "data": {
            "session_type": "Voice Inbound (IVR)",
            "menu": {"id": "6205", "path": "2420/4563/6205"},
            "end_user": {"id": "u-1"},
        },
    }
    return reduce_session("300", [parse_envelope(created)])


# -- search lag ----------------------------------------------------------------------------


def test_search_lag_hides_new_freshdesk_tickets(fakes):
    fakes.hub.limits.search_lag_ms = 400
    client = crm_client(settings_for("freshdesk", fakes))
    ref = client.create_record(new_record())
    assert client.find_by_external_id("ccaip-12345") is None  # why the takeover waits
    time.sleep(0.5)
    assert client.find_by_external_id("ccaip-12345") == ref


def test_search_lags_by_default():
    assert lookalikes.Limits().search_lag_ms >= 60_000


def test_zendesk_external_id_lookup_does_not_lag(fakes):
    fakes.hub.limits.search_lag_ms = 60_000
    client = crm_client(settings_for("zendesk", fakes))
    ref = client.create_record(new_record())
    assert client.find_by_external_id("ccaip-12345") == ref  # list endpoint


# -- throttling and failures ---------------------------------------------------------------


def test_per_minute_limit_surfaces_as_crm_throttled(crm, client, fakes):
    fakes.hub.limits.per_minute = 2
    with pytest.raises(CrmThrottled) as caught:
        for n in range(5):
            client.find_by_external_id(f"ccaip-{n}")
    wait = caught.value.retry_after_seconds
    if crm == "salesforce":  # 403 REQUEST_LIMIT_EXCEEDED names no time: the configured default
        assert (caught.value.status, wait) == (403, 300)
    else:
        assert caught.value.status == 429
        assert 0 < wait <= 61
    assert fakes.hub.crms[crm].throttled == 1


def bare_record(session_id: str = "12345") -> NewRecord:
    """A record of an unknown end user: its create is one call (no requester to look up)."""
    return replace(new_record(session_id), end_user_id=None)


def test_429_with_retry_after(fakes):
    fakes.hub.limits.per_minute = 1
    client = crm_client(settings_for("freshdesk", fakes))
    client.create_record(bare_record())
    response = httpx.get(f"{fakes.url('freshdesk')}/api/v2/tickets/1", auth=("k", "X"))
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_salesforce_limit_is_a_403_request_limit_exceeded(fakes):
    fakes.hub.limits.per_day = 1
    client = crm_client(settings_for("salesforce", fakes))
    client.create_record(bare_record())
    with pytest.raises(CrmThrottled) as caught:
        client.find_by_external_id("ccaip-12345")
    assert caught.value.status == 403
    assert "REQUEST_LIMIT_EXCEEDED" in str(caught.value)


def test_a_daily_cap_asks_to_wait_until_the_window_moves(fakes):
    fakes.hub.limits.per_day = 1
    client = crm_client(settings_for("zendesk", fakes))
    client.create_record(bare_record())
    with pytest.raises(CrmThrottled) as caught:
        client.create_record(bare_record("2"))
    assert 86_000 < caught.value.retry_after_seconds <= 86_400


def test_throttled_work_goes_through_once_the_crm_accepts_again(fakes):
    fakes.hub.limits.per_minute = 1
    client = crm_client(settings_for("zendesk", fakes))
    client.find_by_external_id("ccaip-12345")
    with pytest.raises(CrmThrottled):
        client.create_record(bare_record())
    fakes.hub.crms["zendesk"].minute.clear()  # the minute has passed
    ref = client.create_record(bare_record())
    assert list(records(fakes, "zendesk")) == [ref.id]


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_unavailable(crm, client, fakes, status):
    response = httpx.post(f"{fakes.root}/_admin/fail", json={"crm": crm, "status": status})
    assert response.status_code == 200
    with pytest.raises(CrmUnavailable) as caught:
        client.create_record(new_record())
    assert caught.value.status == status
    assert client.create_record(new_record()).id  # the outage is over


def test_timeouts_and_refused_connections_are_unavailable(crm, fakes):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = settings_for(crm, fakes, base_url=f"http://127.0.0.1:{port}/{crm}")
    with pytest.raises(CrmUnavailable):
        crm_client(settings, timeout=1).create_record(new_record())


def test_other_4xx_is_rejected(crm, client):
    with pytest.raises(CrmRejected) as caught:
        client.reopen("999999" if crm in ("zendesk", "freshdesk") else "0" * 24)
    assert caught.value.status == 404
    assert not isinstance(caught.value, CrmThrottled | CrmUnavailable)


def test_salesforce_renews_an_expired_token(fakes):
    client = crm_client(settings_for("salesforce", fakes))
    ref = client.create_record(new_record())
    httpx.post(f"{fakes.root}/_admin/salesforce/expire-tokens")
    assert client.find_by_external_id("ccaip-12345") == ref


def test_bad_credentials_are_rejected(fakes):
    settings = settings_for("zendesk", fakes)
    settings.zendesk = ZendeskSettings(email="bot@example.com", api_token="")
    with pytest.raises(CrmRejected) as caught:
        crm_client(settings).create_record(new_record())
    assert caught.value.status == 401


# -- e-mail --------------------------------------------------------------------------------


def email_settings(fakes) -> EmailSettings:
    return EmailSettings(
        smtp_host="127.0.0.1",
        smtp_port=fakes.smtp_port,
        starttls=False,
        username="crm-bot",
        password=SECRETS["email"],
        from_address="sessions@example.com",
        to_address="support@acme.zendesk.com",
    )


def test_email_sends_the_file_with_the_record_id_in_the_subject(fakes):
    sender = EmailFileSender(email_settings(fakes), timeout=5)
    marker = "metadata-12345.json (version 1)"
    sender.attach_file("4711", "metadata-12345.json", FILE, "application/json", marker=marker)
    assert sender.find_file("4711", marker) is None  # a sent mail cannot be looked for
    emails = httpx.get(f"{fakes.root}/_admin/emails").json()["emails"]
    assert len(emails) == 1
    mail = emails[0]
    assert mail["subject"] == "[#4711] metadata-12345.json"
    assert mail["to"] == ["support@acme.zendesk.com"]
    assert mail["attachments"] == [
        {
            "filename": "metadata-12345.json",
            "content_type": "application/json",
            "size": len(FILE),
            "content": FILE.decode(),
        }
    ]


def test_email_to_a_closed_port_is_unavailable(fakes):
    settings = email_settings(fakes)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        settings.smtp_port = probe.getsockname()[1]
    with pytest.raises(CrmUnavailable):
        EmailFileSender(settings, timeout=1).attach_file("1", "f.json", FILE, "application/json")


# -- credentials never in logs -------------------------------------------------------------


def test_credentials_never_appear_in_logs(crm, fakes, caplog):
    caplog.set_level(logging.DEBUG)
    errors = []
    client = crm_client(settings_for(crm, fakes), timeout=5)
    ref = client.create_record(new_record())
    client.find_by_external_id("ccaip-12345")
    client.get_record(ref.id)
    client.attach_file(ref.id, "metadata-12345.json", FILE, "application/json")
    fakes.hub.limits.per_minute = 1
    for call in (lambda: client.create_record(new_record("9")), lambda: client.reopen("nope")):
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - the point is what the errors say
            errors.append(f"{exc!r} {exc}")
    EmailFileSender(email_settings(fakes)).attach_file("1", "f.json", FILE, "application/json")
    assert caplog.records, "the clients log their work"
    secret = SECRETS[crm]
    forms = {secret, base64.b64encode(f"bot@example.com/token:{secret}".encode()).decode()}
    forms |= {base64.b64encode(f"{secret}:X".encode()).decode(), SECRETS["email"]}
    text = caplog.text + " ".join(errors) + repr(settings_for(crm, fakes))
    for form in forms:
        assert form not in text
    assert "00DFAKE!" not in text  # nor the Salesforce access token obtained with them


# -- the fake itself -----------------------------------------------------------------------


def test_admin_stats_count_requests_per_crm_and_route(fakes):
    client = crm_client(settings_for("zendesk", fakes))
    client.create_record(new_record())
    client.find_by_external_id("ccaip-12345")
    stats = httpx.get(f"{fakes.root}/_admin/stats").json()
    assert stats["zendesk"]["requests"] == 3
    assert stats["zendesk"]["by_route"] == {
        "POST /users/cou": 1,
        "POST /api/v2/tickets": 1,
        "GET /api/v2/tickets": 1,
    }
    assert stats["salesforce"]["requests"] == 0
    config = httpx.post(f"{fakes.root}/_admin/config", json={"per_minute": 400}).json()
    assert config["per_minute"] == 400
    all_records = httpx.get(f"{fakes.root}/_admin/records", params={"crm": "zendesk"}).json()
    assert list(all_records) == ["zendesk"] and len(all_records["zendesk"]["tickets"]) == 1


def test_runs_as_a_module(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack.lookalikes.server",
            "--port",
            str(port),
            "--per-minute",
            "5",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "fake CRMs" in process.stdout.readline()
        stats = httpx.get(f"http://127.0.0.1:{port}/_admin/stats").json()
        assert stats["limits"]["per_minute"] == 5
    finally:
        process.terminate()
        process.wait(timeout=10)
