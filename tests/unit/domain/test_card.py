"""The session card of seed 003: colour, status or code, duration and journey."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest

from shared.domain.card import SessionCard, build_card, render_card
from shared.domain.session import reduce_session
from tests.factory import AGENT, MENU, T0, SessionScript

PLUS3 = timezone(timedelta(hours=3))
QUEUE = {"id": "6205", "name": "Billing", "path": MENU["path"]}


def card_of(script: SessionScript, *, now_offset: float = 3600) -> SessionCard:
    state = reduce_session(script.session_id, script.events())
    return build_card(state, now=T0 + timedelta(seconds=now_offset), zone=PLUS3)


def live_call() -> SessionScript:
    s = SessionScript()
    s.at(0).add("session.created", {"session_type": "Voice inbound", "lang": "en"})
    s.at(10).status("queued", 1, queue=QUEUE)
    return s


def connected_call() -> SessionScript:
    s = live_call()
    s.at(40).status("assigned", 2, agent=AGENT)
    s.at(45).status("connected", 5)
    return s


def handled_call() -> SessionScript:
    """Answered by an agent, ended by the agent at 200 s, then a wrap-up code."""
    s = SessionScript()
    s.at(0).add("session.created", {"session_type": "Voice Inbound (IVR)", "menu": MENU})
    s.at(10).status("queued", 1, queue=QUEUE)
    s.at(40).status("assigned", 2, agent=AGENT)
    s.at(45).status("connected", 5)
    s.at(200).add("session.ended", {"final_status": "finished", "disconnected_by": "agent"})
    s.at(260).add("session.disposition", {"code": "Resolved"})
    return s


def test_an_active_call_is_blue_waiting_and_runs_to_now():
    card = card_of(live_call(), now_offset=75)
    assert (card.colour, card.icon, card.status) == ("blue", "call", "waiting")
    assert card.meaning.startswith("active")
    assert card.title == "Voice inbound 12345"
    assert card.duration_seconds == 75
    assert (card.queue, card.agent, card.wrap_up_code) == ("Billing", None, None)
    assert [(s.step, s.label) for s in card.journey] == [("routed", "waiting in queue")]
    assert card.journey[0].at.isoformat() == "2023-09-11T09:42:11+03:00"


def test_a_connected_call_shows_its_agent_and_status():
    card = card_of(connected_call(), now_offset=100)
    assert (card.colour, card.status, card.agent) == ("blue", "connected", "Noam B")
    assert [s.step for s in card.journey] == ["routed", "connected"]


def test_customer_hang_up_before_any_code_is_white_and_abandoned():
    s = live_call()
    s.at(30).add("session.ended", {"final_status": "finished", "disconnected_by": "end_user"})
    card = card_of(s)
    assert card.colour == "white" and card.meaning.startswith("abandoned")
    assert card.status == "ended by customer"
    assert card.duration_seconds == 30  # to the end, not to now
    assert [(s.step, s.label) for s in card.journey] == [
        ("routed", "waiting in queue"),
        ("ended", "abandoned by customer"),
    ]


def test_a_code_turns_the_card_gray_and_replaces_the_status():
    card = card_of(handled_call())
    assert card.colour == "gray" and card.meaning.startswith("inactive")
    assert (card.status, card.wrap_up_code) == ("Resolved", "Resolved")
    assert card.duration_seconds == 200
    assert [(s.step, s.label) for s in card.journey] == [
        ("routed", "waiting in queue"),
        ("connected", "connected to agent"),
        ("ended", "ended by agent"),
    ]


def test_a_code_after_a_customer_hang_up_turns_white_to_gray():
    s = connected_call()
    s.at(100).add("session.ended", {"final_status": "finished", "disconnected_by": "end_user"})
    assert card_of(s).colour == "white"
    s.at(130).add("session.disposition", {"code": "Resolved"})
    card = card_of(s)
    assert (card.colour, card.status) == ("gray", "Resolved")
    assert card.journey[-1].label == "abandoned by customer"


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("agent", "ended by agent"),
        ("system", "ended by system"),
        ("virtual_agent", "ended by virtual agent"),
        (None, "ended"),
    ],
)
def test_an_end_without_a_code_not_by_the_customer_is_gray_without_code(who, status):
    s = connected_call()
    s.at(100).add("session.ended", {"final_status": "finished", "disconnected_by": who})
    card = card_of(s)
    assert card.colour == "gray" and card.status == status and card.wrap_up_code is None
    assert "no wrap-up code" in card.meaning


def test_a_code_set_while_the_session_runs_keeps_it_blue_but_shows_the_code():
    s = connected_call()
    s.at(60).add("session.disposition", {"code": "Sales"})
    card = card_of(s, now_offset=90)
    assert (card.colour, card.status) == ("blue", "Sales")


def test_a_non_finished_end_says_how_it_ended():
    s = live_call()
    s.at(20).add("session.deflected", {"deflection": "after_hours_message_only"})
    s.at(21).add("session.ended", {"final_status": "deflected", "disconnected_by": "system"})
    card = card_of(s)
    assert (card.colour, card.status) == ("gray", "ended by system (deflected)")


def test_a_chat_with_a_virtual_agent_and_a_requeue():
    s = SessionScript(channel="chat")
    s.at(0).add("session.created", {"session_type": "Messaging (Web)", "lang": "en"})
    s.at(1).status("va_assigned", 13, agent={"id": "va1", "name": "Returnsbot"})
    s.at(2).status("va_connected", 14)
    s.at(30).status("queued", 1, queue=QUEUE)
    s.at(31).status("queued", 1, queue=QUEUE)  # the same status twice is one step
    s.at(50).status("assigned", 2, agent=AGENT)
    s.at(52).status("connected", 5)
    card = card_of(s, now_offset=3725)
    assert (card.icon, card.title, card.agent) == ("chat", "Messaging (Web) 12345", "Noam B")
    assert [s.label for s in card.journey] == [
        "connected to virtual agent",
        "waiting in queue",
        "connected to agent",
    ]
    assert card.duration_seconds == 3725


def test_a_session_seen_without_its_created_event_still_has_a_card():
    s = SessionScript(channel="chat")
    s.at(5).status("queued", 1)
    card = card_of(s, now_offset=65)
    assert (card.title, card.icon, card.duration_seconds) == ("Chat 12345", "chat", 60)
    assert card.queue is None  # a queued status without its queue


def test_render_card_is_a_few_readable_lines():
    text = render_card(card_of(handled_call()))
    assert text.splitlines() == [
        "[gray] call  Voice Inbound (IVR) 12345  03:20",
        "  inactive: the session ended and a wrap-up code was assigned",
        "  queue: Billing   agent: Noam B   status: Resolved",
        "  09:42:11  waiting in queue",
        "  09:42:46  connected to agent",
        "  09:45:21  ended by agent",
    ]


def test_render_card_long_sessions_and_no_start():
    card = card_of(live_call(), now_offset=3723)
    assert render_card(card).splitlines()[0].endswith("1:02:03")
    blank = card.model_copy(update={"duration_seconds": None})
    assert render_card(blank).splitlines()[0].endswith("--:--")


def test_the_card_counts_and_names_the_fields_left_out():
    s = connected_call()
    s.at(60).add("session.hold_started", {"agent": ["a1"]})
    s.at(90).add("chat.message", {"sender": "end_user", "text": {"rich": True}})
    card = card_of(s)
    assert card.fields_left_out == [
        "12345-004 data.agent: expected an object or a bare id",
        "12345-005 data.text: expected text (or a number)",
    ]
    text = render_card(card)
    assert "fields left out (unexpected shape): 2" in text
    assert "12345-004 data.agent: expected an object or a bare id" in text
    assert "fields left out" not in render_card(card_of(connected_call()))


def test_a_stream_disposition_sets_the_code_that_greys_the_card():
    s = connected_call()
    s.at(100).add("session.ended", {"final_status": "finished", "disconnected_by": "end_user"})
    assert card_of(s).colour == "white"
    s.at(120).add("stream.disposition", {"code": "test001", "agent": "Alex B"})
    card = card_of(s)
    assert (card.colour, card.status) == ("gray", "test001")


def test_the_terminal_card_of_show_lists_the_fields_left_out(capsys):
    from sessionctl.commands.show import _print_card

    s = connected_call()
    s.at(60).add("session.hold_started", {"agent": ["a1"]})
    _print_card(card_of(s))
    out = capsys.readouterr().out
    assert "1 field(s) of an unexpected shape" in out
    assert "12345-004 data.agent: expected an object or a bare id" in out
