"""Table tests of the CRM record rules (seed 004), one table per rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.crm import rules
from shared.crm.rules import AttachTo, Create, ExistingRecord
from shared.crm.settings import CrmSettings
from shared.domain.catalog import STATUS_CODES
from shared.domain.events import parse_envelope
from shared.domain.session import SessionState, reduce_session

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
AGENT = {"id": "a-7", "name": "Ana Lima", "email": "ana@example.com"}
MENU = {
    "id": "6205",
    "name": "Billing",
    "path": "2420/4563/6205",
    "path_names": ["Support", "Billing"],
}

Step = tuple[str, dict[str, Any], float]


def created(session_type: str = "Voice Inbound (IVR)", **extra: Any) -> Step:
    data = {
        "session_type": session_type,
        "lang": "pt-BR",
        "menu": MENU,
        "support_number": "+551140040000",
        "end_user": {"id": "u-1", "identifier": "caller-1"},
        **extra,
    }
    return ("session.created", data, 0)


def status(name: str, at: float, **extra: Any) -> Step:
    data = {"status": name, "status_code": STATUS_CODES[name], **extra}
    if name == "assigned":
        data.setdefault("agent", AGENT)
    return ("session.status_changed", data, at)


def ended(at: float, final: str = "finished", by: str | None = "end_user") -> Step:
    return ("session.ended", {"final_status": final, "disconnected_by": by}, at)


def message(at: float, sender: str = "end_user") -> Step:
    return ("chat.message", {"sender": sender, "message_id": f"m{at}"}, at)


def session(*steps: Step, channel: str = "voice", session_id: str = "12345") -> SessionState:
    events = [
        parse_envelope(
            {
                "spec": "session-event/v1",
                "event_id": f"e{n}",
                "session_id": session_id,
                "channel": channel,
                "type": kind,
                "occurred_at": (T0 + timedelta(seconds=at)).isoformat(),
                "sequence": n,
                "data": data,
            }
        )
        for n, (kind, data, at) in enumerate(steps)
    ]
    return reduce_session(session_id, events)


def chat(*steps: Step) -> SessionState:
    return session(created("Messaging (Web)"), *steps, channel="chat")


def call(*steps: Step) -> SessionState:
    return session(created(), *steps)


QUEUED = status("queued", 5, queue={"id": "q-6205", "name": "Billing", "path": "2420/4563/6205"})


# -- when a record is created: calls -------------------------------------------------------

CALL_CASES = [
    # name, settings, history, trigger, expected
    ("default: created at assignment", {}, [QUEUED, status("assigned", 20)], "assigned", True),
    ("default: nothing before assignment", {}, [QUEUED], "assigned", False),
    (
        "default: a call hung up after assignment keeps its record",
        {},
        [QUEUED, status("assigned", 20), ended(25)],
        "ended",
        True,
    ),
    (
        "delay_until_connected: not at assignment",
        {"delay_until_connected": True},
        [QUEUED, status("assigned", 20)],
        "assigned",
        False,
    ),
    (
        "delay_until_connected: at connection",
        {"delay_until_connected": True},
        [QUEUED, status("assigned", 20), status("connected", 28)],
        "connected",
        True,
    ),
    (
        "delay_until_connected: hung up between assignment and connection",
        {"delay_until_connected": True},
        [QUEUED, status("assigned", 20), ended(25)],
        "ended",
        False,
    ),
    (
        "abandoned_call_records off: abandoned in queue",
        {},
        [QUEUED, ended(40, "failed")],
        "ended",
        False,
    ),
    (
        "abandoned_call_records on: abandoned in queue",
        {"abandoned_call_records": True},
        [QUEUED, ended(40, "failed")],
        "ended",
        True,
    ),
    (
        "abandoned_call_records on: not before the end",
        {"abandoned_call_records": True},
        [QUEUED],
        "assigned",
        False,
    ),
    (
        "abandoned_call_records on: dropped by the system is not abandoned",
        {"abandoned_call_records": True},
        [QUEUED, ended(40, "failed", "system")],
        "ended",
        False,
    ),
    (
        "abandoned_call_records on: deflected is not abandoned",
        {"abandoned_call_records": True},
        [("session.deflected", {"deflection": "schedule_call"}, 8), ended(9, "deflected")],
        "ended",
        False,
    ),
    (
        "voicemail: a record at the end",
        {},
        [QUEUED, ended(60, "voicemail_received")],
        "ended",
        True,
    ),
    (
        "voicemail: no record with voicemail_records off",
        {"voicemail_records": False},
        [QUEUED, ended(60, "voicemail_received")],
        "ended",
        False,
    ),
    (
        "delay_until_connected: a voicemail never connected, no record",
        {"delay_until_connected": True},
        [QUEUED, ended(60, "voicemail_received")],
        "ended",
        False,
    ),
    (
        "an outbound call connected without an assigned event",
        {},
        [status("campaign_connected", 3)],
        "connected",
        True,
    ),
]

# Seed 004: "combined with the abandoned-call setting, only calls connected to an agent
# trigger record creation".
COMBINED = {"delay_until_connected": True, "abandoned_call_records": True}
COMBINED_CASES = [
    ("abandoned in queue", [QUEUED, ended(40, "failed")], "ended", False),
    (
        "assigned, hung up before connection",
        [QUEUED, status("assigned", 20), ended(25)],
        "ended",
        False,
    ),
    ("assigned, not yet connected", [QUEUED, status("assigned", 20)], "assigned", False),
    ("connected", [QUEUED, status("assigned", 20), status("connected", 28)], "connected", True),
    (
        "connected, then ended",
        [QUEUED, status("assigned", 20), status("connected", 28), ended(300, by="agent")],
        "ended",
        True,
    ),
]


@pytest.mark.parametrize(
    ("settings", "history", "trigger", "expected"),
    [case[1:] for case in CALL_CASES],
    ids=[case[0] for case in CALL_CASES],
)
def test_call_record_creation(settings, history, trigger, expected):
    state = call(*history)
    assert rules.should_create(state, trigger, CrmSettings(**settings)) is expected


@pytest.mark.parametrize(
    ("history", "trigger", "expected"),
    [case[1:] for case in COMBINED_CASES],
    ids=[case[0] for case in COMBINED_CASES],
)
def test_delay_until_connected_with_abandoned_call_records(history, trigger, expected):
    assert rules.should_create(call(*history), trigger, CrmSettings(**COMBINED)) is expected


# -- when a record is created: chats -------------------------------------------------------

CHAT_CASES = [
    ("default: created at assignment", {}, [QUEUED, status("assigned", 20)], "assigned", True),
    (
        "delay_until_connected is for calls only",
        {"delay_until_connected": True},
        [QUEUED, status("assigned", 20)],
        "assigned",
        True,
    ),
    (
        "min messages: assigned, fewer messages",
        {"chat_min_consumer_messages": 2},
        [QUEUED, status("assigned", 20), message(21)],
        "end_user_message",
        False,
    ),
    (
        "min messages: the Nth end-user message",
        {"chat_min_consumer_messages": 2},
        [QUEUED, status("assigned", 20), message(21), message(22, "agent"), message(23)],
        "end_user_message",
        True,
    ),
    (
        "min messages: agent messages do not count",
        {"chat_min_consumer_messages": 2},
        [QUEUED, status("assigned", 20), message(21), message(22, "agent")],
        "end_user_message",
        False,
    ),
    (
        "min messages: sent before assignment, created at assignment",
        {"chat_min_consumer_messages": 2},
        [QUEUED, message(6), message(7), status("assigned", 20)],
        "assigned",
        True,
    ),
    (
        "min messages: not without an agent",
        {"chat_min_consumer_messages": 2},
        [QUEUED, message(6), message(7)],
        "end_user_message",
        False,
    ),
]

LONG_ABANDON = [QUEUED, message(6), message(7), message(8), ended(65, "failed")]
SHORT_ABANDON = [QUEUED, message(6), message(7), message(8), ended(15, "failed")]
ABANDONED_CHAT_CASES = [
    ("off: abandoned", {}, LONG_ABANDON, False),
    ("off: short-abandoned", {}, SHORT_ABANDON, False),
    ("all: abandoned", {"abandoned_chat_records": "all"}, LONG_ABANDON, True),
    ("all: short-abandoned", {"abandoned_chat_records": "all"}, SHORT_ABANDON, True),
    (
        "min_messages: enough messages",
        {"abandoned_chat_records": "min_messages", "abandoned_chat_min_messages": 3},
        LONG_ABANDON,
        True,
    ),
    (
        "min_messages: too few messages",
        {"abandoned_chat_records": "min_messages", "abandoned_chat_min_messages": 4},
        LONG_ABANDON,
        False,
    ),
    (
        "min_messages: short-abandoned chats are left out",
        {"abandoned_chat_records": "min_messages", "abandoned_chat_min_messages": 1},
        SHORT_ABANDON,
        False,
    ),
    (
        "min_messages: the short-abandon threshold decides",
        {
            "abandoned_chat_records": "min_messages",
            "abandoned_chat_min_messages": 1,
            "short_abandon_seconds": 120,
        },
        LONG_ABANDON,
        False,
    ),
    (
        "all: a connected chat with too few messages is not abandoned (no empty record)",
        {"abandoned_chat_records": "all", "chat_min_consumer_messages": 5},
        [QUEUED, status("assigned", 9), status("connected", 10), ended(65, by="end_user")],
        False,
    ),
]


@pytest.mark.parametrize(
    ("settings", "history", "trigger", "expected"),
    [case[1:] for case in CHAT_CASES],
    ids=[case[0] for case in CHAT_CASES],
)
def test_chat_record_creation(settings, history, trigger, expected):
    assert rules.should_create(chat(*history), trigger, CrmSettings(**settings)) is expected


@pytest.mark.parametrize(
    ("settings", "history", "expected"),
    [case[1:] for case in ABANDONED_CHAT_CASES],
    ids=[case[0] for case in ABANDONED_CHAT_CASES],
)
def test_abandoned_chat_records(settings, history, expected):
    assert rules.should_create(chat(*history), "ended", CrmSettings(**settings)) is expected


def test_abandoned_chat_rules_wait_for_the_end():
    live = chat(QUEUED, message(6), message(7))
    settings = CrmSettings(abandoned_chat_records="all")
    assert not rules.should_create(live, "end_user_message", settings)


def test_short_abandon_is_measured_from_queueing():
    settings = CrmSettings(short_abandon_seconds=30)
    assert rules.is_short_abandoned(chat(*SHORT_ABANDON), settings)  # 10 s in queue
    assert not rules.is_short_abandoned(chat(*LONG_ABANDON), settings)  # 60 s in queue


# -- where a session goes ------------------------------------------------------------------

NOW = T0 + timedelta(hours=1)


def record(record_id: str, *, open_: bool, age_days: float, closed_days: float | None = None):
    return ExistingRecord(
        id=record_id,
        url=f"https://crm/{record_id}",
        is_open=open_,
        created_at=NOW - timedelta(days=age_days),
        closed_at=None if closed_days is None else NOW - timedelta(days=closed_days),
        end_user_id="u-1",
        leaf_queue="6205",
    )


ATTACH = {"attach_to_open_record_same_leaf_queue": True}
ROUTE_CASES = [
    ("off: always a new record", {}, [record("r1", open_=True, age_days=1)], Create()),
    ("on: no candidates", ATTACH, [], Create()),
    (
        "on: the open record",
        ATTACH,
        [record("r1", open_=True, age_days=1)],
        AttachTo("r1", reopen=False, url="https://crm/r1"),
    ),
    (
        "on: the latest open record",
        ATTACH,
        [record("old", open_=True, age_days=9), record("new", open_=True, age_days=2)],
        AttachTo("new", reopen=False, url="https://crm/new"),
    ),
    (
        "on: a closed record needs the secondary option",
        ATTACH,
        [record("r1", open_=False, age_days=5, closed_days=1)],
        Create(),
    ),
    (
        "closed within N days: reopened",
        {**ATTACH, "attach_to_closed_within_days": 7},
        [record("r1", open_=False, age_days=9, closed_days=3)],
        AttachTo("r1", reopen=True, url="https://crm/r1"),
    ),
    (
        "closed too long ago",
        {**ATTACH, "attach_to_closed_within_days": 7},
        [record("r1", open_=False, age_days=20, closed_days=8)],
        Create(),
    ),
    (
        "an open record wins over a recently closed one",
        {**ATTACH, "attach_to_closed_within_days": 7},
        [
            record("closed", open_=False, age_days=1, closed_days=0.5),
            record("open", open_=True, age_days=4),
        ],
        AttachTo("open", reopen=False, url="https://crm/open"),
    ),
    (
        "the most recently closed one",
        {**ATTACH, "attach_to_closed_within_days": 7},
        [
            record("a", open_=False, age_days=6, closed_days=5),
            record("b", open_=False, age_days=9, closed_days=1),
        ],
        AttachTo("b", reopen=True, url="https://crm/b"),
    ),
    (
        "the secondary option alone does nothing",
        {"attach_to_closed_within_days": 7},
        [record("r1", open_=False, age_days=9, closed_days=3)],
        Create(),
    ),
]


@pytest.mark.parametrize(
    ("settings", "candidates", "expected"),
    [case[1:] for case in ROUTE_CASES],
    ids=[case[0] for case in ROUTE_CASES],
)
def test_route(settings, candidates, expected):
    state = call(QUEUED, status("assigned", 20))
    assert rules.route(state, CrmSettings(**settings), candidates, NOW) == expected


def test_route_needs_the_same_end_user_and_leaf_queue():
    state = call(QUEUED, status("assigned", 20))
    other_user = ExistingRecord("x", None, True, NOW, end_user_id="u-2", leaf_queue="6205")
    other_queue = ExistingRecord("y", None, True, NOW, end_user_id="u-1", leaf_queue="4563")
    settings = CrmSettings(**ATTACH)
    assert rules.route(state, settings, [other_user, other_queue], NOW) == Create()


def test_route_without_a_known_end_user_creates():
    state = session(created(end_user=None), QUEUED, status("assigned", 20))
    candidates = [record("r1", open_=True, age_days=1)]
    assert rules.route(state, CrmSettings(**ATTACH), candidates, NOW) == Create()


def test_leaf_queue_is_the_last_node_of_the_menu_path():
    assert rules.leaf_queue(call()) == "6205"
    state = session(created(menu=None), QUEUED)
    assert rules.leaf_queue(state) == "6205"  # from the queue's path


# -- title ---------------------------------------------------------------------------------

ZONE = ZoneInfo("America/Sao_Paulo")
TITLE_CASES = [
    ("CALL_TYPE", created(), "IVR call"),
    ("CALL_TYPE", created("Voice inbound (Mobile)"), "Inbound call (app)"),
    ("CALL_TYPE", created("Voice callback (Web)"), "Inbound call (Web)"),
    ("CALL_TYPE", created("Voice scheduled (Mobile)"), "Voice scheduled (app)"),
    ("CALL_TYPE", created("Voice scheduled (Web)"), "Scheduled call (Web)"),
    ("CALL_TYPE", created("Voice outbound"), "Outbound call"),
    ("CALL_TYPE", created("Messaging (Whatsapp)"), "Messaging (Whatsapp)"),
    ("CALL_ID", created(), "12345"),
    ("MENU_PATH", created(), "Support > Billing"),
    ("PHONE_NUMBER", created(), "+551140040000"),
    (
        "PHONE_NUMBER",
        created("Voice outbound", support_number=None, outbound_number="+5511999990000"),
        "+5511999990000",
    ),
    ("LANGUAGE", created(), "pt-BR"),
    ("IDIOMA", created(), "pt-BR"),
    ("TIMESTAMP", created(), "2024-05-01T09:00:00-03:00"),
    ("MENU_PATH", created(menu=None), ""),  # no value: empty text
    ("LANGUAGE", created(lang=None), ""),
    ("LANGUAGE_TIMESTAMP", created(), "pt-BR_2024-05-01T09:00:00-03:00"),
    ("CALL_IDCALL_TYPE", created(), "12345IVR call"),
    ("LANGUAGE_TIMESTAMP", created(lang=None), "2024-05-01T09:00:00-03:00"),
    ("AGENT_NAME CALL_ID", created(), "AGENT_NAME 12345"),  # no variable: stays as written
]

# A variable with no value takes its dangling separator with it.
EMPTY_CASES = [
    (
        "CALL_TYPE CALL_ID: MENU_PATH, PHONE_NUMBER, LANGUAGE",
        "IVR call 12345: +551140040000, pt-BR",
    ),
    ("MENU_PATH - CALL_ID", "12345"),
    ("CALL_ID - MENU_PATH", "12345"),
    ("CALL_ID (MENU_PATH)", "12345"),
    ("[MENU_PATH] CALL_ID", "12345"),
    ("CALL_ID | MENU_PATH | MENU_PATH | LANGUAGE", "12345 | pt-BR"),
    ("Call MENU_PATH, LANGUAGE", "Call pt-BR"),
    ("MENU_PATH", ""),
]


@pytest.mark.parametrize(("template", "expected"), EMPTY_CASES)
def test_an_empty_variable_leaves_no_dangling_separator(template, expected):
    assert rules.title(session(created(menu=None)), template, ZONE) == expected


@pytest.mark.parametrize(("template", "first", "expected"), TITLE_CASES)
def test_title_variable(template, first, expected):
    assert rules.title(session(first), template, ZONE) == expected


def test_title_template_keeps_its_text():
    template = "[CALL_TYPE] CALL_ID via PHONE_NUMBER - MENU_PATH (LANGUAGE) at TIMESTAMP; my ref"
    assert rules.title(call(), template, ZONE) == (
        "[IVR call] 12345 via +551140040000 - Support > Billing (pt-BR) "
        "at 2024-05-01T09:00:00-03:00; my ref"
    )


# -- tags ----------------------------------------------------------------------------------

TAG_CASES = [
    ("zendesk", "Voice Inbound (IVR)", "voice_inbound_ivr"),
    ("zendesk", "Messaging Inbound (Web Chat)", "messaging_inbound_web_chat"),
    ("zendesk", "Voice inbound (IVR by Mobile)", "voice_inbound_ivr_by_mobile"),
    ("zendesk", "UJET", "ujet"),
    ("kustomer", "Voice Inbound (IVR)", "Voice Inbound - IVR"),
    ("kustomer", "Voice inbound (IVR by Mobile)", "Voice inbound - IVR by Mobile"),
    ("kustomer", "Voice outbound", "Voice outbound"),
    ("freshdesk", "Messaging Inbound (Web Chat)", "Messaging Inbound (Web Chat)"),
    ("freshdesk", "Voice Inbound (IVR)", "Voice Inbound (IVR)"),
]


@pytest.mark.parametrize(("crm", "value", "expected"), TAG_CASES)
def test_tag_format_per_crm(crm, value, expected):
    assert rules.format_tag(value, crm) == expected


TAGS_ON = {"session_type_tags": True, "platform_tag": True}
TAGS_CASES = [
    ("zendesk", TAGS_ON, ["voice_inbound_ivr", "ujet"]),
    ("kustomer", TAGS_ON, ["Voice Inbound - IVR", "UJET"]),
    ("freshdesk", TAGS_ON, ["Voice Inbound (IVR)", "UJET"]),
    ("salesforce", TAGS_ON, []),  # Case has no tags
    ("zendesk", {"session_type_tags": True}, ["voice_inbound_ivr"]),
    ("zendesk", {"platform_tag": True, "platform_tag_value": "CCAIP"}, ["ccaip"]),
    ("zendesk", {}, []),
]


@pytest.mark.parametrize(("crm", "settings", "expected"), TAGS_CASES)
def test_record_tags(crm, settings, expected):
    assert rules.tags(call(), crm, CrmSettings(**settings)) == expected


# -- assignee ------------------------------------------------------------------------------

ADMIN = CrmSettings(default_admin_user="admin-42")
ASSIGNEE_CASES = [
    ("an assigned agent", call(QUEUED, status("assigned", 20)), False, "a-7"),
    ("abandoned call", call(QUEUED, ended(40, "failed")), True, "admin-42"),
    ("voicemail", call(QUEUED, ended(60, "voicemail_received")), True, "admin-42"),
    ("chat before assignment", chat(QUEUED, message(6)), True, "admin-42"),
    (
        "a virtual agent only",
        call(status("va_assigned", 3, agent={"id": "va-1"}), status("va_connected", 4)),
        True,
        "admin-42",
    ),
]


@pytest.mark.parametrize(
    ("state", "is_admin", "user_id"),
    [case[1:] for case in ASSIGNEE_CASES],
    ids=[case[0] for case in ASSIGNEE_CASES],
)
def test_assignee(state, is_admin, user_id):
    who = rules.assignee(state, ADMIN)
    assert (who.is_admin, who.user_id) == (is_admin, user_id)


def test_no_admin_configured_leaves_the_record_to_the_crm():
    who = rules.assignee(call(QUEUED), CrmSettings())
    assert who.is_admin and who.user_id is None


def test_agent_email_travels_for_crms_that_assign_by_email():
    assert rules.assignee(call(QUEUED, status("assigned", 20)), ADMIN).email == "ana@example.com"


# -- the record ----------------------------------------------------------------------------


def test_build_record_for_the_target_crm():
    settings = CrmSettings(
        kind="zendesk",
        external_id_prefix="ccaip-acme-",
        title_template="CALL_TYPE CALL_ID",
        session_type_tags=True,
        platform_tag=True,
    )
    built = rules.build_record(call(QUEUED, status("assigned", 20)), settings, ZONE)
    assert built.external_id == "ccaip-acme-12345"
    assert built.title == "IVR call 12345"
    assert built.tags == ("voice_inbound_ivr", "ujet")
    assert (built.channel, built.direction) == ("voice", "in")
    assert (built.end_user_id, built.leaf_queue) == ("u-1", "6205")
    assert "Session: 12345" in built.description


def test_build_record_direction_of_outbound_calls():
    state = session(created("Voice Campaign"), status("campaign_connected", 3))
    assert rules.build_record(state, CrmSettings(), ZONE).direction == "out"


# -- settings ------------------------------------------------------------------------------


class _Env(BaseSettings):
    """How ``shared.config.Settings`` nests the CRM settings."""

    model_config = SettingsConfigDict(env_nested_delimiter="__", case_sensitive=False)
    crm: CrmSettings = CrmSettings()


def test_settings_nest_under_crm_with_double_underscores(monkeypatch):
    monkeypatch.setenv("CRM__KIND", "zendesk")
    monkeypatch.setenv("CRM__DELAY_UNTIL_CONNECTED", "true")
    monkeypatch.setenv("CRM__ABANDONED_CHAT_RECORDS", "min_messages")
    monkeypatch.setenv("CRM__ABANDONED_CHAT_MIN_MESSAGES", "3")
    monkeypatch.setenv("CRM__ZENDESK__EMAIL", "bot@example.com")
    monkeypatch.setenv("CRM__ZENDESK__API_TOKEN", "s3cr3t-token")
    crm = _Env().crm
    assert crm.kind == "zendesk" and crm.delay_until_connected
    assert (crm.abandoned_chat_records, crm.abandoned_chat_min_messages) == ("min_messages", 3)
    assert crm.zendesk.api_token.get_secret_value() == "s3cr3t-token"
    assert "s3cr3t-token" not in repr(crm) and "s3cr3t-token" not in str(crm.model_dump())


def test_every_setting_has_a_default_and_a_description():
    nested = [
        type(value) for value in CrmSettings().__dict__.values() if isinstance(value, BaseModel)
    ]
    for model in (CrmSettings, *nested):
        for name, info in model.model_fields.items():
            assert not info.is_required(), f"{model.__name__}.{name} has no default"
            assert info.description, f"{model.__name__}.{name} has no description"
