"""The CRM record rules of seed 004, pure: state + settings in, decisions out.

Nothing here talks to a CRM or reads the clock. The caller evaluates
``should_create`` at each trigger (the live state) and creates the record at
most once (its Firestore claim); ``route`` then picks a new record or an
existing one from the candidates of our own routing index, refreshed from the CRM; ``build_record`` says
what to write.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Literal

from shared.crm.settings import CrmKind, CrmSettings
from shared.domain.catalog import HUMAN_CONNECTED
from shared.domain.session import SessionState

Trigger = Literal["assigned", "connected", "end_user_message", "ended"]

# Endings that are not a caller walking away: they never count as abandoned.
NOT_ABANDONED = frozenset({"deflected", "voicemail_received", "recovered"})

# The platform's CALL_TYPE names (seed 004) for its session types; others print as they are.
CALL_TYPES: dict[str, str] = {
    "voice inbound": "IVR call",
    "voice inbound (ivr)": "IVR call",
    "voice inbound (ivr by mobile)": "IVR call",
    "voice inbound (mobile)": "Inbound call (app)",
    "voice callback (web)": "Inbound call (Web)",
    "voice scheduled (mobile)": "Voice scheduled (app)",
    "voice scheduled (web)": "Scheduled call (Web)",
    "voice outbound": "Outbound call",
    "voice outbound (api)": "Outbound call",
    "voice campaign": "Outbound call",
}

VARIABLE_NAMES = (
    "CALL_TYPE",
    "CALL_ID",
    "MENU_PATH",
    "PHONE_NUMBER",
    "LANGUAGE",
    "IDIOMA",
    "TIMESTAMP",
)
# Wherever a name stands (``LANGUAGE_TIMESTAMP`` is two variables), the longest name first,
# so that a name which is the prefix of another never takes the longer one's place.
TITLE_VARIABLES = re.compile("|".join(sorted(VARIABLE_NAMES, key=len, reverse=True)))
# What separates variables in a template: what goes with a variable that has no value.
_EMPTY = "\x00"
_SEPARATORS = r"[\s,;:|/>_.\-\u2013\u2014\u00b7]*"
_EMPTY_GROUP = re.compile(r"[(\[{]\s*\x00\s*[)\]}]")
_EMPTY_WITH_SEPARATORS = re.compile(f"({_SEPARATORS}){_EMPTY}({_SEPARATORS})")


@dataclass(frozen=True)
class ExistingRecord:
    """A record the CRM already holds for this end user and leaf queue."""

    id: str
    url: str | None
    is_open: bool
    created_at: datetime
    closed_at: datetime | None = None  # for closed records: when (or last update, if unknown)
    end_user_id: str | None = None  # as the record itself says, never the value looked for
    leaf_queue: str | None = None
    locked: bool = False  # closed for good (Zendesk ``closed``): a follow-up takes the session
    status: str | None = None  # the CRM's own status name


@dataclass(frozen=True)
class RecordRef:
    """A record as the metadata file names it: ``out_ticket_id`` and ``out_ticket_url``."""

    id: str
    url: str | None


@dataclass(frozen=True)
class Create:
    """Make a new record."""


@dataclass(frozen=True)
class AttachTo:
    """Put the session on an existing record; reopen it first when it is closed."""

    record_id: str
    reopen: bool
    url: str | None = None


@dataclass(frozen=True)
class Assignee:
    """Who the record goes to: the session's agent, else the configured admin user."""

    user_id: str | None  # platform agent id, or the admin's CRM user id
    email: str | None
    is_admin: bool


@dataclass(frozen=True)
class NewRecord:
    """What a client writes: CRM-neutral, already titled and tagged for the target CRM."""

    session_id: str
    external_id: str
    title: str
    description: str
    tags: tuple[str, ...]
    channel: str
    direction: Literal["in", "out"]
    session_type: str | None
    end_user_id: str | None
    end_user_name: str | None
    leaf_queue: str | None
    assignee: Assignee
    end_user_phone: str | None = None
    end_user_email: str | None = None


# -- when a record is created --------------------------------------------------------------


def should_create(state: SessionState, trigger: Trigger, settings: CrmSettings) -> bool:
    """Whether the session should have a record at this trigger.

    True means "by now it deserves one": a later trigger may say True again for a
    session that already has its record, and the caller's claim makes that a no-op.
    Abandonment is only known at the end, so those rules answer only at ``ended``.
    """
    at_end = trigger == "ended" and state.is_ended
    if is_chat(state):
        return _chat_record_due(state, settings, at_end)
    return _call_record_due(state, settings, at_end)


def _call_record_due(state: SessionState, s: CrmSettings, at_end: bool) -> bool:
    if human_connected(state):
        return True
    if s.delay_until_connected:
        # Seed 004: created at connection; combined with abandoned-call records, still only
        # calls connected to an agent get one (a voicemail is no connection either).
        return False
    if at_end and s.voicemail_records and _is_voicemail(state):
        return True  # a message was left: someone must act on it (the admin user)
    if human_assigned(state):
        return True
    return at_end and s.abandoned_call_records and is_abandoned(state)


def _chat_record_due(state: SessionState, s: CrmSettings, at_end: bool) -> bool:
    reached_agent = human_assigned(state) or human_connected(state)
    if reached_agent and end_user_messages(state) >= s.chat_min_consumer_messages:
        return True
    if not (at_end and is_abandoned(state)):
        return False
    if s.abandoned_chat_records == "all":
        return True
    if s.abandoned_chat_records == "min_messages":
        # "All" names short-abandoned chats apart; "at least N messages" names only abandoned ones.
        return not is_short_abandoned(state, s) and (
            end_user_messages(state) >= s.abandoned_chat_min_messages
        )
    return False


def is_chat(state: SessionState) -> bool:
    return state.is_chat


def human_assigned(state: SessionState) -> bool:
    return "assigned" in state.status_first_at


def human_connected(state: SessionState) -> bool:
    return bool(state.status_first_at.keys() & HUMAN_CONNECTED)


def is_abandoned(state: SessionState) -> bool:
    """Ended before any agent talked to the end user, and not by the agent or the system."""
    ended = state.ended
    if ended is None or human_connected(state) or ended.final_status in NOT_ABANDONED:
        return False
    return ended.disconnected_by in (None, "end_user")


def is_short_abandoned(state: SessionState, settings: CrmSettings) -> bool:
    """Abandoned within ``short_abandon_seconds`` of queueing (of the start, if never queued)."""
    if not is_abandoned(state) or state.ended_at is None:
        return False
    start = state.status_first_at.get("queued") or state.created_at or state.first_event_at
    if start is None:
        return False
    return state.ended_at - start < timedelta(seconds=settings.short_abandon_seconds)


def end_user_messages(state: SessionState) -> int:
    return sum(1 for message, _ in state.messages if message.sender == "end_user")


def _is_voicemail(state: SessionState) -> bool:
    return state.ended is not None and state.ended.final_status == "voicemail_received"


# -- where a session goes ------------------------------------------------------------------


def end_user_id(state: SessionState) -> str | None:
    user = state.created.end_user if state.created else None
    return (user.id or user.identifier) if user else None


def leaf_queue(state: SessionState) -> str | None:
    """The last node of the menu path (else of the queue's path, else the queue id)."""
    menu = state.created.menu if state.created else None
    for path in (menu.path if menu else None, state.queue.path if state.queue else None):
        nodes = [node for node in (path or "").split("/") if node]
        if nodes:
            return nodes[-1]
    return state.queue.id if state.queue else None


def route(
    state: SessionState,
    settings: CrmSettings,
    candidates: Iterable[ExistingRecord],
    now: datetime,
) -> Create | AttachTo:
    """A new record, or the record of the same end user and leaf queue that takes the session.

    The latest open one wins; failing that (secondary option) the one closed most
    recently, if within ``attach_to_closed_within_days``, reopened.
    """
    user, leaf = end_user_id(state), leaf_queue(state)
    if not settings.attach_to_open_record_same_leaf_queue or user is None or leaf is None:
        return Create()
    same = [c for c in candidates if c.end_user_id == user and c.leaf_queue == leaf]
    open_ = [c for c in same if c.is_open]
    if open_:
        latest = max(open_, key=lambda c: c.created_at)
        return AttachTo(latest.id, reopen=False, url=latest.url)
    days = settings.attach_to_closed_within_days
    if days > 0:
        oldest = now - timedelta(days=days)
        closed = [c for c in same if not c.is_open and c.closed_at and c.closed_at >= oldest]
        if closed:
            latest = max(closed, key=lambda c: c.closed_at or c.created_at)
            return AttachTo(latest.id, reopen=True, url=latest.url)
    return Create()


# -- what the record says ------------------------------------------------------------------


def title(state: SessionState, template: str, zone: tzinfo) -> str:
    """The template with every variable replaced by what is known.

    A variable with no value becomes empty text, and takes with it the separator it
    leaves dangling (``A, MENU_PATH, B`` -> ``A, B``; ``ID (MENU_PATH)`` -> ``ID``).
    Words that are no variable (``AGENT_NAME``) stay as written.
    """
    values = _title_values(state, zone)
    text = TITLE_VARIABLES.sub(lambda m: values.get(m.group(0)) or _EMPTY, template)
    return _drop_empty(text)


def _drop_empty(text: str) -> str:
    """Remove each empty value with its dangling separators, one at a time."""
    while _EMPTY in text:
        text = _EMPTY_GROUP.sub(_EMPTY, text)
        match = _EMPTY_WITH_SEPARATORS.search(text)
        assert match is not None  # the pattern matches any lone marker
        before, after = text[: match.start()], text[match.end() :]
        # At either end there is nothing to separate; between two values one separator stays.
        keep = (match.group(1) or match.group(2)) if before and after else ""
        text = before + keep + after
    return text.strip()


def _title_values(state: SessionState, zone: tzinfo) -> dict[str, str | None]:
    created = state.created
    start = state.created_at or state.first_event_at
    language = created.lang if created else None
    return {
        "CALL_TYPE": call_type(state),
        "CALL_ID": state.session_id,
        "MENU_PATH": menu_path(state),
        "PHONE_NUMBER": (created.support_number or created.outbound_number) if created else None,
        "LANGUAGE": language,
        "IDIOMA": language,  # the seed's Portuguese name of the same variable
        "TIMESTAMP": start.astimezone(zone).isoformat(timespec="seconds") if start else None,
    }


def call_type(state: SessionState) -> str | None:
    session_type = state.created.session_type if state.created else None
    if session_type is None:
        return None
    return CALL_TYPES.get(session_type.lower(), session_type)


def menu_path(state: SessionState) -> str | None:
    menu = state.created.menu if state.created else None
    if menu is None:
        return None
    if menu.path_names:
        return " > ".join(menu.path_names)
    return menu.name


def format_tag(value: str, crm: CrmKind) -> str:
    """A tag as the CRM shows it: Zendesk snake_case, Kustomer ``X - Y``, others as they are."""
    if crm == "zendesk":
        return re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_")
    if crm == "kustomer":
        return re.sub(r"\s*\(([^)]*)\)", r" - \1", value).strip()
    return value


TAGGED_CRMS: frozenset[str] = frozenset({"zendesk", "kustomer", "freshdesk", "webhook"})


def tags(state: SessionState, crm: CrmKind, settings: CrmSettings) -> list[str]:
    """Session type and platform tags, for the CRMs that have tags (not Salesforce)."""
    if crm not in TAGGED_CRMS:
        return []
    out: list[str] = []
    session_type = state.created.session_type if state.created else None
    if settings.session_type_tags and session_type:
        out.append(format_tag(session_type, crm))
    if settings.platform_tag and settings.platform_tag_value:
        out.append(format_tag(settings.platform_tag_value, crm))
    return out


def assignee(state: SessionState, settings: CrmSettings) -> Assignee:
    """The agent last assigned, or the admin user where no agent is known."""
    agent = state.agent
    if agent is not None and human_assigned(state):
        return Assignee(user_id=agent.id, email=agent.email, is_admin=False)
    return Assignee(user_id=settings.default_admin_user or None, email=None, is_admin=True)


def external_id(session_id: str, settings: CrmSettings) -> str:
    """The record's key in the CRM: the same for every attempt for this session."""
    return f"{settings.external_id_prefix}{session_id}"


def build_record(
    state: SessionState, settings: CrmSettings, zone: tzinfo, crm: CrmKind | None = None
) -> NewRecord:
    kind = crm or settings.kind
    created = state.created
    session_type = created.session_type if created else None
    user = created.end_user if created else None
    outbound = session_type is not None and any(
        word in session_type.lower() for word in ("outbound", "campaign")
    )
    return NewRecord(
        session_id=state.session_id,
        external_id=external_id(state.session_id, settings),
        title=title(state, settings.title_template, zone),
        description=_description(state, zone),
        tags=tuple(tags(state, kind, settings)),
        channel="chat" if is_chat(state) else "voice",
        direction="out" if outbound else "in",
        session_type=session_type,
        end_user_id=end_user_id(state),
        end_user_name=(user.identifier or user.id) if user else None,
        leaf_queue=leaf_queue(state),
        assignee=assignee(state, settings),
        end_user_phone=user.phone if user else None,
        end_user_email=user.email if user else None,
    )


def _description(state: SessionState, zone: tzinfo) -> str:
    values = _title_values(state, zone)
    lines = [
        ("Session", state.session_id),
        ("Type", state.created.session_type if state.created else None),
        ("Menu", values["MENU_PATH"]),
        ("Number", values["PHONE_NUMBER"]),
        ("Language", values["LANGUAGE"]),
        ("Started", values["TIMESTAMP"]),
    ]
    return "\n".join(f"{label}: {value}" for label, value in lines if value)
