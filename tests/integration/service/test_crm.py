"""The CRM use case on the emulators against the look-alike CRMs: rules, retries, faults.

The rules matrix runs one small fixed traffic (answered call, abandoned calls, chats
with few and more messages, abandoned chats, one end user calling twice from the same
leaf queue) through the trigger jobs in the order their events happen, under each rule
switched on once (the whole table on Zendesk; on the other CRMs the rules that touch
their API, and the rest switched on together), and asserts exactly which records each
CRM holds, with their titles, tags and assignees in that CRM's own format. The fault runs hold the two
promises of the CRM function: never a record twice, never a job lost.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack import lookalikes
from shared.crm import rules
from shared.crm.budget import RateBudget
from shared.crm.errors import ClaimHeld
from shared.crm.settings import CrmKind
from shared.domain.files import encode
from shared.domain.session import reduce_session
from shared.service.crm import (
    MAX_CREATE_ATTEMPTS,
    CrmDeps,
    drain_parked_jobs,
    handle_crm_data,
    handle_crm_message,
)
from tests.factory import MENU, T0, SessionScript
from tests.integration.crm_helpers import (
    CRMS,
    OPEN_AGAIN,
    VirtualTime,
    admin_of,
    by_session_key,
    close_record,
    configure,
    crm_deps,
    deliver,
    drain,
    fail_next,
    fake_records,
    feed,
    files_on,
    ingest,
    notice,
    record_id,
    set_lookalike_clock,
    stats,
    status_of,
    tags_of,
    title_of,
)
from tests.integration.helpers import Clock, unique

pytestmark = pytest.mark.emulators

AGENT = {"id": "a1", "name": "Noam B", "email": "noam@example.test"}
# The agent's own user in each look-alike CRM (mapped from the agent's e-mail).
AGENT_USER = {
    "zendesk": "7001",
    "salesforce": "005000000007001AAA",
    "freshdesk": "7001",
    "kustomer": f"{7001:024x}",
}
CHAT_QUEUE = {"id": "7301", "name": "Chat support", "path": "7000/7301"}
ADMIN = "9001"


@pytest.fixture(scope="module")
def fakes() -> Iterator[lookalikes.Running]:
    running = lookalikes.start()
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def clean(fakes: lookalikes.Running) -> None:
    fakes.hub.reset()
    fakes.hub.limits = lookalikes.Limits()  # indexes lag as the vendors' do


@pytest.fixture
def deps_for(emulators, fakes) -> Iterator[Callable[..., CrmDeps]]:
    built: list[CrmDeps] = []

    def build(kind: CrmKind, **options: Any) -> CrmDeps:
        built.append(crm_deps(emulators.project, fakes, kind, **options))
        return built[-1]

    yield build
    for deps in built:
        deps.client.close()


# -- the fixed traffic ---------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    """One session of the traffic: its events, and what its record must say."""

    name: str
    script: SessionScript
    voice: bool
    agent: bool  # reached an agent: the agent takes the record, never the admin user

    @property
    def id(self) -> str:
        return self.script.session_id

    @property
    def key(self) -> str:
        return f"ccaip-{self.id}"

    @property
    def timestamp(self) -> str:
        return self.script.start.astimezone(UTC).isoformat(timespec="seconds")


def _call(name: str, user: str, start: datetime) -> SessionScript:
    s = SessionScript(session_id=unique(name), start=start)
    s.at(0).add(
        "session.created",
        {
            "session_type": "Voice Inbound (IVR)",
            "lang": "en",
            "menu": MENU,
            "support_number": "+12223334444",
            "end_user": {"id": user},
        },
    )
    s.at(10).status("queued", 1, queue={"id": "6205", "name": "Billing", "path": MENU["path"]})
    return s


def answered_call(name: str, user: str, start: datetime) -> SessionScript:
    s = _call(name, user, start)
    s.at(40).status("assigned", 2, agent=AGENT)
    s.at(45).status("connected", 5)
    s.at(200).add("session.ended", {"final_status": "finished", "disconnected_by": "agent"})
    return s


def abandoned_call(name: str, user: str, start: datetime) -> SessionScript:
    s = _call(name, user, start)
    s.at(70).add("session.ended", {"final_status": "finished", "disconnected_by": "end_user"})
    return s


def hung_up_call(name: str, user: str, start: datetime) -> SessionScript:
    """Assigned, then the caller hung up while the agent's line was connecting."""
    s = _call(name, user, start)
    s.at(40).status("assigned", 2, agent=AGENT)
    s.at(42).status("connecting", 3)
    s.at(44).add("session.ended", {"final_status": "finished", "disconnected_by": "end_user"})
    return s


def _chat(name: str, user: str, start: datetime) -> SessionScript:
    s = SessionScript(session_id=unique(name), channel="chat", start=start)
    s.at(0).add(
        "session.created",
        {"session_type": "Messaging (Web)", "lang": "en", "end_user": {"id": user}},
    )
    s.at(5).status("queued", 1, queue=CHAT_QUEUE)
    return s


def answered_chat(name: str, user: str, start: datetime, messages: int) -> SessionScript:
    s = _chat(name, user, start)
    s.at(20).status("assigned", 2, agent=AGENT)
    s.at(22).status("connected", 5)
    s.at(25).add("chat.message", {"sender": "agent", "message_id": "a-1"})
    for n in range(messages):
        s.at(30 + 10 * n).add("chat.message", {"sender": "end_user", "message_id": f"u-{n}"})
    s.at(300).add("session.ended", {"final_status": "finished", "disconnected_by": "agent"})
    return s


def abandoned_chat(
    name: str, user: str, start: datetime, *, messages: int, lasts: float
) -> SessionScript:
    """Never reached an agent; the end user left ``lasts`` seconds after queueing."""
    s = _chat(name, user, start)
    for n in range(messages):
        s.at(5 + (n + 1) * lasts / (messages + 1)).add(
            "chat.message", {"sender": "end_user", "message_id": f"u-{n}"}
        )
    s.at(5 + lasts).add(
        "session.ended", {"final_status": "finished", "disconnected_by": "end_user"}
    )
    return s


def traffic() -> dict[str, Session]:
    at = [T0 + timedelta(minutes=n) for n in range(9)]
    sessions = [
        Session("answered", answered_call("answered", "u-answered", at[0]), True, True),
        Session("call_abandoned", abandoned_call("abandoned", "u-abandoned", at[1]), True, False),
        Session("call_hung_up", hung_up_call("hung-up", "u-hung-up", at[2]), True, True),
        Session("chat_1", answered_chat("chat-1", "u-chat-1", at[3], messages=1), False, True),
        Session("chat_3", answered_chat("chat-3", "u-chat-3", at[4], messages=3), False, True),
        Session(
            "chat_abandoned",
            abandoned_chat("chat-left", "u-left", at[5], messages=2, lasts=120),
            False,
            False,
        ),
        Session(
            "chat_short",
            abandoned_chat("chat-short", "u-short", at[6], messages=2, lasts=10),
            False,
            False,
        ),
        Session("repeat_1", answered_call("repeat-1", "u-repeat", at[7]), True, True),
        Session("repeat_2", answered_call("repeat-2", "u-repeat", at[8]), True, True),
    ]
    return {s.name: s for s in sessions}


def run_traffic(
    deps: CrmDeps, fakes, kind: CrmKind, sessions: dict[str, Session], close_days: float | None
) -> None:
    """Sessions side by side; the same end user's two calls one after the other.

    ``close_days``: between the two calls an agent closes the first call's record.
    """

    def repeat() -> None:
        feed(deps, sessions["repeat_1"].script)
        if close_days is not None:
            first = deps.records.get(sessions["repeat_1"].id).record_id
            close_record(fakes, kind, first, days_ago=close_days)
        feed(deps, sessions["repeat_2"].script)

    singles = [s.script for name, s in sessions.items() if not name.startswith("repeat")]
    with ThreadPoolExecutor(max_workers=len(singles) + 1) as pool:
        done = [pool.submit(feed, deps, script) for script in singles] + [pool.submit(repeat)]
        for future in done:
            future.result()


# -- the rules matrix ----------------------------------------------------------------------

BASE = frozenset({"answered", "call_hung_up", "chat_1", "chat_3", "repeat_1", "repeat_2"})
TITLE = "CALL_TYPE CALL_ID: MENU_PATH, PHONE_NUMBER, LANGUAGE, TIMESTAMP, AGENT_NAME"
TYPE_TAG = {
    "zendesk": {True: "voice_inbound_ivr", False: "messaging_web"},
    "kustomer": {True: "Voice Inbound - IVR", False: "Messaging - Web"},
    "freshdesk": {True: "Voice Inbound (IVR)", False: "Messaging (Web)"},
}
PLATFORM_TAG = {"zendesk": "ujet", "kustomer": "UJET", "freshdesk": "UJET"}


@dataclass(frozen=True)
class Rule:
    id: str
    settings: dict[str, Any]
    records: frozenset[str]  # sessions that get a record of their own
    close_first_days: float | None = None  # the first of the repeat calls' record is closed
    repeat_attached: bool = False  # the second repeat call lands on the first one's record
    every_crm: bool = False  # also run on Salesforce, Freshdesk and Kustomer


RULES = [
    Rule("default", {}, BASE, every_crm=True),
    Rule(
        "delay_until_connected",
        {"delay_until_connected": True},
        BASE - {"call_hung_up"},
    ),
    Rule(
        "delay_and_abandoned_calls",  # the seed's combination: only calls that reached an agent
        {"delay_until_connected": True, "abandoned_call_records": True},
        BASE - {"call_hung_up"},
    ),
    Rule(
        "abandoned_call_records",
        {"abandoned_call_records": True},
        BASE | {"call_abandoned"},
    ),
    Rule(
        "chat_min_consumer_messages",
        {"chat_min_consumer_messages": 2},
        BASE - {"chat_1"},
    ),
    Rule(
        "abandoned_chats_all",
        {"abandoned_chat_records": "all"},
        BASE | {"chat_abandoned", "chat_short"},
    ),
    Rule(
        "abandoned_chats_min_2",
        {"abandoned_chat_records": "min_messages", "abandoned_chat_min_messages": 2},
        BASE | {"chat_abandoned"},
    ),
    Rule(
        "abandoned_chats_min_3",
        {"abandoned_chat_records": "min_messages", "abandoned_chat_min_messages": 3},
        BASE,
    ),
    Rule(
        "abandoned_chats_min_2_short_5s",  # a 10 s chat is no longer short-abandoned
        {
            "abandoned_chat_records": "min_messages",
            "abandoned_chat_min_messages": 2,
            "short_abandon_seconds": 5,
        },
        BASE | {"chat_abandoned", "chat_short"},
    ),
    Rule(
        "attach_to_open_record",
        {"attach_to_open_record_same_leaf_queue": True},
        BASE - {"repeat_2"},
        repeat_attached=True,
        every_crm=True,
    ),
    Rule(
        "attach_to_open_record_not_a_closed_one",
        {"attach_to_open_record_same_leaf_queue": True},
        BASE,
        close_first_days=2,
    ),
    Rule(
        "attach_to_closed_within_days_reopens",
        {"attach_to_open_record_same_leaf_queue": True, "attach_to_closed_within_days": 7},
        BASE - {"repeat_2"},
        close_first_days=2,
        repeat_attached=True,
        every_crm=True,
    ),
    Rule(
        "attach_to_closed_within_days_too_old",
        {"attach_to_open_record_same_leaf_queue": True, "attach_to_closed_within_days": 1},
        BASE,
        close_first_days=2,
    ),
    Rule("title_template", {"title_template": TITLE}, BASE),
    Rule("session_type_tags", {"session_type_tags": True}, BASE),
    Rule("platform_tag", {"platform_tag": True}, BASE),
    Rule(
        "default_admin_user",
        {"default_admin_user": ADMIN, "abandoned_call_records": True},
        BASE | {"call_abandoned"},
    ),
    # Every CRM: the timing rules together, then the record's looks together.
    Rule(
        "timing_rules_together",
        {
            "delay_until_connected": True,
            "abandoned_call_records": True,
            "chat_min_consumer_messages": 2,
            "abandoned_chat_records": "min_messages",
            "abandoned_chat_min_messages": 2,
        },
        (BASE - {"call_hung_up", "chat_1"}) | {"chat_abandoned"},
        every_crm=True,
    ),
    Rule(
        "admin_title_and_tags_together",
        {
            "default_admin_user": ADMIN,
            "abandoned_call_records": True,
            "abandoned_chat_records": "all",
            "title_template": TITLE,
            "session_type_tags": True,
            "platform_tag": True,
        },
        BASE | {"call_abandoned", "chat_abandoned", "chat_short"},
        every_crm=True,
    ),
]


def matrix() -> list[Any]:
    return [
        pytest.param(kind, rule, id=f"{kind}-{rule.id}")
        for kind in CRMS
        for rule in RULES
        if kind == "zendesk" or rule.every_crm
    ]


def expected_title(session: Session, template: str | None) -> str:
    kind = "IVR call" if session.voice else "Messaging (Web)"
    if template is None:
        return f"{kind} {session.id}"
    if session.voice:
        known = f"Support > Accounts > Billing, +12223334444, en, {session.timestamp}"
    else:  # a chat has no menu and no dialled number: empty, with their separators
        known = f"en, {session.timestamp}"
    return f"{kind} {session.id}: {known}, AGENT_NAME"


def expected_tags(kind: CrmKind, session: Session, settings: dict[str, Any]) -> set[str]:
    if kind == "salesforce":
        return set()  # Case has no tags
    tags = set()
    if settings.get("session_type_tags"):
        tags.add(TYPE_TAG[kind][session.voice])
    if settings.get("platform_tag"):
        tags.add(PLATFORM_TAG[kind])
    return tags


@pytest.mark.parametrize(("kind", "rule"), matrix())
def test_records_exist_exactly_as_the_rules_say(kind: CrmKind, rule: Rule, deps_for, fakes):
    deps = deps_for(kind, **rule.settings)
    sessions = traffic()
    run_traffic(deps, fakes, kind, sessions, rule.close_first_days)

    held = by_session_key(fakes, kind)
    wanted = {sessions[name].key: sessions[name] for name in rule.records}
    assert sorted(held) == sorted(wanted), "records by session key"
    assert all(len(found) == 1 for found in held.values()), "a session key twice"
    for key, session in wanted.items():
        record = held[key][0]
        assert title_of(kind, record) == expected_title(
            session, rule.settings.get("title_template")
        )
        assert tags_of(fakes, kind, record) == expected_tags(kind, session, rule.settings)
        owner = AGENT_USER[kind] if session.agent else rule.settings.get("default_admin_user")
        assert admin_of(kind, record) == owner, session.name
        if kind == "salesforce":  # the session type goes to a field instead of a tag
            assert record["CCAIP_Session_Type__c"] == (
                "Voice Inbound (IVR)" if session.voice else "Messaging (Web)"
            )

    # Firestore holds each session's record: its own, the first call's, or none.
    ids = {session_key: record_id(kind, found[0]) for session_key, found in held.items()}
    for name, session in sessions.items():
        stored = deps.records.get(session.id)
        if name in rule.records:
            assert stored.record_id == ids[session.key], name
        elif name == "repeat_2" and rule.repeat_attached:
            assert stored.record_id == ids[sessions["repeat_1"].key]
        else:
            assert stored.record_id is None, name
    if rule.close_first_days is not None:
        first = held[sessions["repeat_1"].key][0]
        reopened = status_of(kind, first) == OPEN_AGAIN[kind]
        assert reopened == rule.repeat_attached
    if rule.repeat_attached:  # a short note says the second call joined the record
        first_id = ids[sessions["repeat_1"].key]
        notes = deps.client.notes(first_id)
        assert sum(f"[{sessions['repeat_2'].key}]" in body for body in notes) == 1


# -- faults --------------------------------------------------------------------------------


def until_assigned(deps: CrmDeps, prefix: str) -> tuple[str, dict[str, str]]:
    """An answered call's events up to its assignment, stored; its ``assigned`` job."""
    script = answered_call(prefix, f"u-{prefix}", T0)
    for doc in script.docs[:3]:  # created, queued, assigned
        ingest(deps, doc)
    return script.session_id, {"session_id": script.session_id, "trigger": "assigned"}


def only_record(fakes, kind: CrmKind, session_id: str) -> dict[str, Any]:
    held = by_session_key(fakes, kind)
    assert list(held) == [f"ccaip-{session_id}"]
    assert len(held[f"ccaip-{session_id}"]) == 1
    return held[f"ccaip-{session_id}"][0]


@pytest.mark.parametrize("kind", CRMS)
def test_a_worker_that_died_after_the_crm_answered_leaves_one_record(kind, deps_for, fakes):
    """With the vendors' index lag on (120 s): Freshdesk's takeover waits it out (300 s)."""
    clock = Clock()
    deps = deps_for(kind, wall_clock=clock)
    session_id, job = until_assigned(deps, "crash")
    # The dead worker: it held the claim, the CRM created the record, nothing was stored.
    state = reduce_session(session_id, deps.events.load_events(session_id))
    assert deps.records.claim(session_id, lease=deps.settings.claim_lease) is not None
    deps.records.creating(session_id)
    built = rules.build_record(state, deps.settings.crm, deps.settings.zone)
    created = deps.client.create_record(built)
    with pytest.raises(ClaimHeld):  # a redelivery while the lease runs waits for it
        handle_crm_message(job, deps)
    moved = deps.settings.claim_lease_seconds + 1
    clock.advance(moved)
    set_lookalike_clock(fakes, moved)
    assert deps.records.get(session_id).attempts == 1

    outcome = handle_crm_message(job, deps)
    if kind == "freshdesk":  # no idempotency tool: its filter index may not show it yet
        assert outcome == "parked"
        assert drain(deps) == []  # not before the lag has passed
        clock.advance(300)
        set_lookalike_clock(fakes, moved + 300)
        assert drain(deps) == ["created"]
    else:
        assert outcome == "created"

    record = only_record(fakes, kind, session_id)
    assert record_id(kind, record) == created.id
    assert deps.records.get(session_id).ticket == (created.id, created.url)
    assert deps.records.parked_stats().count == 0


@pytest.mark.parametrize("kind", CRMS)
def test_a_job_delivered_five_times_creates_one_record(kind, deps_for, fakes):
    deps = deps_for(kind)
    session_id, job = until_assigned(deps, "again")
    outcomes = [handle_crm_message(job, deps) for _ in range(5)]
    assert outcomes == ["created"] + ["exists"] * 4
    only_record(fakes, kind, session_id)


@pytest.mark.parametrize("kind", CRMS)
def test_eight_concurrent_workers_on_one_trigger_create_one_record(kind, deps_for, fakes):
    deps = deps_for(kind)
    session_id, job = until_assigned(deps, "race")
    start = threading.Barrier(8)

    def worker() -> str:
        start.wait()
        return deliver(job, deps, attempts=200, backoff=0.05)  # ClaimHeld: redelivered

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda _: worker(), range(8)))
    assert sorted(outcomes) == ["created"] + ["exists"] * 7
    record = only_record(fakes, kind, session_id)
    assert deps.records.get(session_id).record_id == record_id(kind, record)


def test_a_short_throttle_is_waited_out_within_the_job(deps_for, fakes):
    deps = deps_for("zendesk", budget=RateBudget(400))
    session_id, job = until_assigned(deps, "short-429")
    configure(fakes, per_minute=3)
    window = fakes.hub.crms["zendesk"]
    with fakes.hub.lock:  # three calls 57 s ago fill the minute: the CRM says "in 3 s"
        window.minute.extend([time.time() - 57] * 3)
        window.day.extend([time.time() - 57] * 3)
    started = time.monotonic()
    assert handle_crm_message(job, deps) == "created"
    assert time.monotonic() - started >= 2.0
    assert stats(fakes, "zendesk")["throttled"] == 1
    only_record(fakes, "zendesk", session_id)


@pytest.mark.parametrize("kind", CRMS)
def test_a_long_throttle_parks_the_job_and_the_tick_creates_the_record_once(kind, deps_for, fakes):
    time_ = VirtualTime()
    clock = Clock()
    deps = deps_for(kind, budget=time_.budget(400), wall_clock=clock)
    session_id, job = until_assigned(deps, "long-429")
    configure(fakes, per_minute=5)
    for n in range(5):  # the minute's calls are spent
        deps.client.find_by_external_id(f"ccaip-other-{n}")

    assert handle_crm_message(job, deps) == "parked"  # acknowledged, kept in Firestore
    (parked,) = deps.records.due_parked(clock() + timedelta(minutes=2), 10)
    assert parked.job == {**job, "published_at": parked.job["published_at"]}
    # The CRM's reset is counted from real time, the test clock was read a moment before.
    assert 20 < (parked.not_before - clock()).total_seconds() <= 65
    assert fake_records(fakes, kind) == {}
    assert deps.records.get(session_id).record_id is None
    assert drain(deps) == []  # the tick keeps it until its time
    stats_now = deps.records.parked_stats()
    assert stats_now.count == 1

    with fakes.hub.lock:  # a minute later
        fakes.hub.crms[kind].minute.clear()
    clock.advance(61)
    assert drain(deps) == ["created"]
    only_record(fakes, kind, session_id)
    assert stats(fakes, kind)["throttled"] == 1
    assert deps.records.dead_letters() == []
    assert deps.records.parked_stats().count == 0


@pytest.mark.parametrize("kind", CRMS)
def test_a_daily_cap_parks_the_job_however_often_it_comes_and_never_dead_letters(
    kind, deps_for, fakes
):
    clock = Clock()
    deps = deps_for(kind, budget=VirtualTime().budget(400), wall_clock=clock)
    session_id, job = until_assigned(deps, "daily-cap")
    configure(fakes, per_day=2)
    for n in range(2):  # the day's calls are spent
        deps.client.find_by_external_id(f"ccaip-other-{n}")
    for _ in range(MAX_CREATE_ATTEMPTS + 2):
        assert handle_crm_message(job, deps) == "parked"
    assert deps.records.dead_letters() == []
    (parked,) = deps.records.due_parked(clock() + timedelta(days=2), 10)
    assert parked.times == MAX_CREATE_ATTEMPTS + 2
    wait = (parked.not_before - clock()).total_seconds()
    if kind == "salesforce":  # 403 REQUEST_LIMIT_EXCEEDED names no time: the default wait
        assert wait == pytest.approx(deps.settings.crm.throttle_default_seconds, abs=2)
    else:  # the cap's window, as Retry-After / x-ratelimit-reset say
        assert wait > 23 * 3600

    with fakes.hub.lock:  # the next day: the day's budget is far from spent
        fakes.hub.crms[kind].day.clear()
        fakes.hub.crms[kind].minute.clear()
    configure(fakes, per_day=1000)
    clock.advance(86_400 + 120)  # the CRM's reset is counted from real time, a little later
    assert drain(deps) == ["created"]
    only_record(fakes, kind, session_id)
    assert deps.records.dead_letters() == []


def test_a_job_before_its_session_is_known_is_parked_not_looped(deps_for, fakes):
    clock = Clock()
    deps = deps_for("zendesk", wall_clock=clock)
    script = answered_call("early", "u-early", T0)
    job = {"session_id": script.session_id, "trigger": "assigned"}
    ingest(deps, script.docs[2])  # the assignment arrived; session.created did not yet
    assert handle_crm_message(job, deps) == "parked"
    assert drain(deps) == []
    for doc in script.docs[:2]:
        ingest(deps, doc)
    clock.advance(31)
    assert drain(deps) == ["created"]
    only_record(fakes, "zendesk", script.session_id)


def test_a_malformed_job_is_logged_once_and_acknowledged(deps_for, fakes, caplog):
    deps = deps_for("zendesk")
    assert handle_crm_message({"session_id": "", "trigger": "assigned"}, deps) == "malformed"
    assert handle_crm_message({"session_id": "s", "trigger": "lunch"}, deps) == "malformed"
    assert handle_crm_message({"session_id": "s", "version": "x"}, deps) == "malformed"
    assert handle_crm_data(b"not json", deps) == "malformed"
    assert deps.records.dead_letters() == []
    assert fake_records(fakes, "zendesk") == {}


def test_the_drain_releases_due_jobs_within_its_limit_and_keeps_jobs_parked_again(deps_for):
    clock = Clock()
    deps = deps_for("zendesk", wall_clock=clock)
    for n in range(3):
        deps.records.park(f"s{n}--assigned", {"n": n}, clock() - timedelta(seconds=3 - n), "t")
    deps.records.park("later--assigned", {"n": 9}, clock() + timedelta(hours=1), "t")
    published: list[dict] = []
    report = drain_parked_jobs(deps.records, published.append, limit=2, now=clock())
    assert published == [{"n": 0}, {"n": 1}]
    assert report["released"] == 2 and report["parked_jobs"] == 2
    # A job parked again after it was read stays parked.
    (due,) = deps.records.due_parked(clock(), 10)
    deps.records.park(due.id, due.job, clock() + timedelta(minutes=5), "again")
    assert deps.records.unpark(due) is False
    assert deps.records.parked_stats(clock()).count == 2


@pytest.mark.parametrize("kind", CRMS)
def test_a_lost_answer_on_an_attach_does_not_attach_the_version_twice(kind, deps_for, fakes):
    deps = deps_for(kind)
    script = answered_call("lost-attach", "u-lost", T0)
    feed(deps, script)
    stored = deps.records.get(script.session_id)
    first = notice(script.session_id, 1)
    # The worker attached the file, then died before storing that it did.
    deps.records.attaching(script.session_id, 1)
    name = f"metadata-{script.session_id}.json"
    deps.target.attach_file(
        stored.record_id,
        name,
        encode(first["metadata"]),
        "application/json",
        marker=f"{name} (version 1)",
    )
    assert handle_crm_message(first, deps) == "attached"
    assert len(files_on(fakes, kind, stored.record_id)) == 1
    assert deps.records.get(script.session_id).attached_version == 1


def test_a_rewrite_on_a_closed_zendesk_ticket_goes_to_a_follow_up(deps_for, fakes):
    deps = deps_for("zendesk")
    script = answered_call("closed", "u-closed", T0)
    feed(deps, script)
    first_id = deps.records.get(script.session_id).record_id
    assert handle_crm_message(notice(script.session_id, 1), deps) == "attached"
    fakes.hub.crms["zendesk"].tickets[int(first_id)]["status"] = "closed"
    assert handle_crm_message(notice(script.session_id, 2), deps) == "attached"
    moved = deps.records.get(script.session_id)
    assert moved.record_id != first_id and moved.attached_version == 2
    follow = fake_records(fakes, "zendesk")[moved.record_id]
    assert follow["via_followup_source_id"] == int(first_id)
    assert len(files_on(fakes, "zendesk", moved.record_id)) == 1
    assert deps.records.dead_letters() == []


@pytest.mark.parametrize("kind", CRMS)
def test_a_job_the_crm_refuses_is_dead_lettered_and_nothing_else_is_lost(kind, deps_for, fakes):
    deps = deps_for(kind)
    refused_id, refused = until_assigned(deps, "refused")
    other_id, other = until_assigned(deps, "other")

    fail_next(fakes, kind, 400)
    assert handle_crm_message(refused, deps) == "dead_lettered"
    assert handle_crm_message(other, deps) == "created"
    assert handle_crm_message(notice(other_id, 1), deps) == "attached"

    fail_next(fakes, kind, 400)
    assert handle_crm_message(notice(other_id, 2), deps) == "dead_lettered"

    letters = {letter.id: letter for letter in deps.records.dead_letters()}
    assert sorted(letters) == sorted([f"{refused_id}--assigned", f"{other_id}--v2"])
    assert letters[f"{refused_id}--assigned"].job == refused
    assert "400" in letters[f"{refused_id}--assigned"].error
    assert letters[f"{other_id}--v2"].job == notice(other_id, 2)
    assert sorted(by_session_key(fakes, kind)) == [f"ccaip-{other_id}"]
    assert deps.records.get(refused_id).record_id is None

    # An operator replays them: everything arrives, once.
    for letter_id, letter in letters.items():
        assert handle_crm_message(letter.job, deps) in ("created", "attached")
        deps.records.mark_replayed(letter_id, unique("replay"))
    assert deps.records.dead_letters() == []
    held = by_session_key(fakes, kind)
    assert sorted(held) == sorted([f"ccaip-{refused_id}", f"ccaip-{other_id}"])
    assert all(len(found) == 1 for found in held.values())
    assert deps.records.get(other_id).attached_version == 2


@pytest.mark.parametrize("kind", CRMS)
def test_a_rewrite_updates_the_file_on_the_same_record(kind, deps_for, fakes):
    deps = deps_for(kind)
    script = answered_call("rewrite", "u-rewrite", T0)
    outcomes = feed(deps, script)
    assert outcomes == [("assigned", "created"), ("connected", "exists"), ("ended", "exists")]
    first, second = notice(script.session_id, 1), notice(script.session_id, 2)
    second["metadata"]["csat"] = 4

    assert handle_crm_message(first, deps) == "attached"
    assert handle_crm_message(second, deps) == "attached"
    assert handle_crm_message(second, deps) == "duplicate"
    assert handle_crm_message(first, deps) == "duplicate"

    record = only_record(fakes, kind, script.session_id)
    name = f"metadata-{script.session_id}.json"
    algorithm = hashlib.md5 if kind == "salesforce" else hashlib.sha256
    digests = [algorithm(encode(n["metadata"])).hexdigest() for n in (first, second)]
    assert files_on(fakes, kind, record_id(kind, record)) == [(name, d) for d in digests]
    stored = deps.records.get(script.session_id)
    assert stored.attached_version == 2
    if kind == "salesforce":  # a second version of the same document, published to the case
        versions = fakes.hub.crms["salesforce"].collections()["content_versions"].values()
        assert sorted(v["VersionNumber"] for v in versions) == ["1", "2"]
        assert {v["ContentDocumentId"] for v in versions} == {stored.attachment_id}
