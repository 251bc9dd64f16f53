"""Any order and any duplication of a session's events gives the same files."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.files import render_files
from tests.factory import SessionScript, handled_call

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def chat_session() -> SessionScript:
    s = SessionScript(session_id="chat-1", channel="chat")
    s.at(0).add("session.created", {"session_type": "Messaging (Web)", "lang": "en"})
    s.at(5).status("queued", 1, queue={"id": "q", "name": "Chat", "path": "1/2"})
    s.at(9).add("chat.message", {"sender": "end_user", "message_id": "m1", "text": "hi"})
    s.at(20).status("assigned", 2, agent={"id": "a2", "name": "Ana"})
    s.at(25).add("chat.message", {"sender": "agent", "message_id": "m2", "text": "hello"})
    s.at(30).add("chat.message", {"sender": "end_user", "message_id": "m3"})
    s.at(31).add("chat.message", {"sender": "end_user", "message_id": "m4"})
    s.at(60).add("chat.message", {"sender": "agent", "message_id": "m5"})
    s.at(61).add("stream.chat_started", {"chat_id": "chat-1"})
    s.at(62).add("stream.sentiment_score", {"segment_average": 52})
    s.at(90).add("session.ended", {"final_status": "finished", "disconnected_by": "end_user"})
    return s


def files_of(events):
    rendered = render_files(events[0].session_id, events, version=1, updated_at=NOW, zone=UTC)
    return rendered.metadata, rendered.datastream


SCRIPTS = {
    "call": handled_call().events(),
    "call-seq": handled_call(with_sequence=True).events(),
    "chat": chat_session().events(),
}


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(sorted(SCRIPTS)),
    data=st.data(),
)
def test_permutations_and_duplicates_give_the_same_files(name, data):
    events = SCRIPTS[name]
    expected = files_of(events)
    duplicates = data.draw(st.lists(st.sampled_from(events), max_size=len(events)))
    shuffled = data.draw(st.permutations(events + duplicates))
    assert files_of(shuffled) == expected


def test_duplicates_are_not_counted():
    events = SCRIPTS["call"]
    metadata, _ = files_of(events + events[:5])
    assert metadata["event_count"] == len(events)


def test_the_data_stream_keeps_stream_items_in_order():
    _, stream = files_of(list(reversed(SCRIPTS["chat"])))
    assert [e["type"] for e in stream["events"]] == [
        "stream.chat_started",
        "stream.sentiment_score",
    ]
