"""The metadata file's values, key by key, for sessions written from the contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.domain.metadata import SessionMetadata, build_metadata, validate_metadata
from shared.domain.session import reduce_session
from tests.factory import T0, SessionScript, handled_call

PLUS3 = timezone(timedelta(hours=3))
WRITTEN = datetime(2023, 9, 11, 7, 0, 0, tzinfo=UTC)


def build(script: SessionScript, **kwargs):
    state = reduce_session(script.session_id, script.events())
    doc = build_metadata(state, updated_at=WRITTEN, version=1, zone=PLUS3, **kwargs)
    validate_metadata(doc)
    return doc


def test_every_key_of_the_spec_is_present_even_without_data():
    doc = build(SessionScript().add("session.created", {"session_type": "Voice inbound"}))
    assert set(SessionMetadata.model_fields) <= set(doc) | {"transfers"}
    assert doc["transfers"] == [] and doc["participants"] == [] and doc["queue"] is None


def test_a_handled_call_has_its_times_durations_and_people():
    doc = build(handled_call())
    assert doc["id"] == "12345" and doc["lang"] == "en" and doc["channel"] == "voice"
    assert doc["call_type"] == "Voice Inbound (IVR)" and doc["chat_type"] is None
    assert (doc["status"], doc["status_code"]) == ("finished", 8)
    assert doc["created_at"] == "2023-09-11T09:42:01.000+03:00"
    assert doc["queued_at"] == "2023-09-11T09:42:11.000+03:00"
    assert doc["assigned_at"] == "2023-09-11T09:42:41.000+03:00"
    assert doc["connected_at"] == "2023-09-11T09:42:46.000+03:00"
    assert doc["ends_at"] == "2023-09-11T09:45:21.000+03:00"
    assert doc["updated_at"] == "2023-09-11T10:00:00.000+03:00"
    assert doc["wait_duration"] == 30
    assert doc["call_duration"] == 245  # assigned (40 s) -> wrap-up ended (285 s)
    assert doc["hold_duration"] == 23  # 15 + 8
    assert doc["answer_type"] == "human"
    assert doc["agent_info"] == {
        "id": "a1",
        "name": "Noam B",
        "first_name": "Noam",
        "last_name": "B",
    }
    assert doc["queue"] == {"id": "6205", "name": "Billing", "path": "2420/4563/6205"}
    assert doc["menu_path"] == {
        "id": "2420/4563/6205",
        "materialized_path": "2420/4563/6205",
        "name": "Billing",
        "menu_type": "ivr",
        "items_count": 3,
    }
    assert doc["selected_menu"] == {"id": "6205", "name": "Billing", "menu_type": "ivr"}
    assert doc["support_number"] == "+12223334444" and doc["outbound_number"] is None
    assert doc["queue_priority"] == 3
    assert doc["recording_permission"] == "granted"
    assert doc["disposition"]["code"] == "Resolved"
    assert doc["disconnected_by"] == "agent"
    assert doc["end_user"] == {"id": "u1", "identifier": "cust-1"}
    assert doc["event_count"] == 17 and doc["version"] == 1
    assert doc["message_count"] is None


def test_end_user_contact_appears_only_when_configured():
    doc = build(handled_call(), include_end_user_contact=True)
    assert doc["end_user"]["phone"] == "+15550100"


def test_an_abandoned_call_waits_until_the_end_and_has_no_handle_time():
    s = SessionScript()
    s.at(0).add("session.created", {"session_type": "Voice inbound"})
    s.at(5).status("queued", 1, queue={"id": "q1", "name": "Sales"})
    s.at(65).add("session.ended", {"final_status": "finished", "disconnected_by": "end_user"})
    doc = build(s)
    assert doc["wait_duration"] == 60
    assert doc["call_duration"] is None and doc["hold_duration"] is None
    assert doc["answer_type"] is None and doc["agent_info"] is None


def test_a_hold_still_open_at_the_end_closes_at_the_end():
    s = SessionScript()
    s.at(0).add("session.created", {"session_type": "Voice inbound"})
    s.at(10).status("assigned", 2, agent={"id": "a"})
    s.at(20).add("session.hold_started", {})
    s.at(50).add("session.ended", {"final_status": "finished"})
    assert build(s)["hold_duration"] == 30


def test_hold_is_totalled_per_interaction_across_a_transfer():
    s = SessionScript()
    s.at(0).add("session.created", {"session_type": "Voice inbound"})
    s.at(10).status("assigned", 2, agent={"id": "a"})
    s.at(20).add("session.hold_started", {})
    s.at(30).add("session.hold_ended", {})
    s.at(40).add("session.transfer_started", {"transfer_id": "t1", "to": {"agent": "b"}})
    s.at(45).add("session.transfer_completed", {"transfer_id": "t1", "to": {"agent": "b"}})
    s.at(50).add("session.hold_started", {})
    s.at(55).add("session.hold_ended", {})
    s.at(60).add("session.ended", {"final_status": "finished"})
    doc = build(s)
    assert doc["hold_duration"] == 15 and doc["hold_durations"] == [10, 5]
    assert doc["transfers"][0]["status"] == "completed"
    assert doc["transfers"][0]["created_at"] == (T0 + timedelta(seconds=40)).isoformat(
        timespec="milliseconds"
    )


def test_a_preview_campaign_call_counts_before_call_work_in_handle_time():
    s = SessionScript()
    s.at(0).add(
        "session.created",
        {"session_type": "Voice Campaign", "campaign": {"id": "c", "mode": "preview"}},
    )
    s.at(0).status("preview_pending", 15)
    s.at(30).status("preview_ready", 16)
    s.at(40).status("campaign_connecting", 17)
    s.at(50).status("campaign_connected", 18)
    s.at(100).add("session.ended", {"final_status": "finished", "disconnected_by": "agent"})
    doc = build(s)
    assert doc["call_duration"] == 100
    assert doc["answer_type"] == "human" and doc["connected_at"] is not None


def test_a_virtual_agent_answer_is_virtual():
    s = SessionScript()
    s.at(0).add("session.created", {"session_type": "Voice inbound"})
    s.at(2).status("va_assigned", 13, agent={"id": "va", "name": "Bot"})
    s.at(3).status("va_connected", 14)
    s.at(30).add("session.ended", {"final_status": "finished", "disconnected_by": "virtual_agent"})
    doc = build(s)
    assert doc["answer_type"] == "virtual" and doc["call_duration"] == 28


def test_chat_metrics_count_messages_and_agent_response_times():
    s = SessionScript(session_id="c1", channel="chat")
    s.at(0).add("session.created", {"session_type": "Messaging (Web)"})
    s.at(5).status("assigned", 2, agent={"id": "a"})
    s.at(10).add("chat.message", {"sender": "end_user", "message_id": "1"})
    s.at(12).add("chat.message", {"sender": "end_user", "message_id": "2"})
    s.at(20).add("chat.message", {"sender": "agent", "message_id": "3"})
    s.at(30).add("chat.message", {"sender": "end_user", "message_id": "4"})
    s.at(60).add("chat.message", {"sender": "agent", "message_id": "5"})
    s.at(70).add("session.ended", {"final_status": "finished", "disconnected_by": "agent"})
    doc = build(s)
    assert doc["chat_type"] == "Messaging (Web)" and doc["call_type"] is None
    assert doc["message_count"] == 5 and doc["end_user_message_count"] == 3
    assert doc["average_response_time"] == 20 and doc["longest_response_time"] == 30
    assert doc["chat_duration"] == 65 and doc["call_duration"] is None


def test_a_session_with_no_end_event_is_failed_with_no_end_event():
    s = SessionScript()
    s.at(0).add("session.created", {"session_type": "Voice inbound"})
    s.at(5).status("queued", 1)
    doc = build(s)
    assert (doc["status"], doc["status_code"], doc["fail_reason"]) == ("failed", 9, "no_end_event")
    assert doc["ends_at"] is None


# --- handle time, agent, and the keys consumers parse (metadata-file.md) -------------------


def test_an_earlier_agents_wrap_up_after_a_transfer_does_not_cut_handle_time_short():
    s = SessionScript()
    s.at(0).add("session.created", {"session_type": "Voice inbound"})
    s.at(10).status("assigned", 2, agent={"id": "a", "name": "Noam B"})
    s.at(20).add("session.transfer_started", {"transfer_id": "t", "from": {"agent": "a"}})
    s.at(30).add("session.transfer_completed", {"transfer_id": "t", "to": {"agent": "b"}})
    s.at(31).add("session.wrap_up_started", {"agent": "a"})
    s.at(90).add("session.wrap_up_ended", {"agent": "a"})
    s.at(600).add("session.ended", {"final_status": "finished", "disconnected_by": "agent"})
    assert build(s)["call_duration"] == 590


def test_handle_time_runs_to_the_last_wrap_up_when_it_ends_after_the_session():
    s = SessionScript()
    s.at(0).add("session.created", {"session_type": "Voice inbound"})
    s.at(10).status("assigned", 2, agent={"id": "a"})
    s.at(600).add("session.ended", {"final_status": "finished", "disconnected_by": "agent"})
    s.at(650).add("session.wrap_up_ended", {"agent": "a"})
    assert build(s)["call_duration"] == 640


@pytest.mark.parametrize("mode", ["progressive", "predictive"])
def test_a_campaign_call_without_assigned_is_handled_from_the_agents_connection(mode):
    s = SessionScript()
    s.at(0).add(
        "session.created", {"session_type": "Voice Campaign", "campaign": {"id": 4, "mode": mode}}
    )
    s.at(0).status(f"{mode}_waiting", 20 if mode == "predictive" else 21)
    s.at(10).status("campaign_dialing", 23)
    s.at(25).status("campaign_connected", 18, agent={"id": "a7", "name": "Ana", "first_name": "A"})
    s.at(145).add("session.ended", {"final_status": "finished", "disconnected_by": "end_user"})
    s.at(170).add("session.wrap_up_ended", {"agent": "a7"})
    doc = build(s)
    assert doc["call_duration"] == 145  # campaign_connected (+25 s) -> wrap-up ended (+170 s)
    assert doc["agent_info"] == {"id": "a7", "name": "Ana", "first_name": "A", "last_name": None}
    assert doc["assigned_at"] is None and doc["answer_type"] == "human"


def test_a_preview_campaign_call_known_by_its_first_status_starts_at_preview_pending():
    s = SessionScript()
    s.at(0).add("session.created", {"session_type": "Voice Campaign"})
    s.at(0).status("preview_pending", 15, agent={"id": "a8", "name": "Bo"})
    s.at(40).status("campaign_connected", 18)
    s.at(100).add("session.ended", {"final_status": "finished", "disconnected_by": "agent"})
    doc = build(s)
    assert doc["call_duration"] == 100 and doc["agent_info"]["name"] == "Bo"


def test_photos_and_videos_count_uploads_from_smart_actions_and_the_data_stream():
    s = SessionScript()
    s.at(0).add("session.created", {"session_type": "Voice inbound"})
    s.at(5).add("session.smart_action", {"action": "photo", "status": "uploaded", "count": 2})
    s.at(6).add("session.smart_action", {"action": "video", "status": "failed"})
    s.at(7).add("stream.photo_uploaded", {"external_storage_link": "https://x/1"})
    s.at(8).add("stream.video_uploaded", {"external_storage_link": "https://x/2"})
    s.at(60).add("session.ended", {"final_status": "finished", "disconnected_by": "agent"})
    doc = build(s)
    # Both sources report the same uploads: the larger count, never their sum.
    assert (doc["photos"], doc["videos"]) == (2, 1)
    assert (
        doc["smart_actions"]["photos"] == "uploaded" and doc["smart_actions"]["videos"] == "failed"
    )


def test_photos_and_videos_are_zero_without_uploads():
    doc = build(handled_call())
    assert (doc["photos"], doc["videos"]) == (0, 0)


def test_stream_disposition_fills_the_disposition_only_without_a_session_disposition():
    s = SessionScript()
    s.at(0).add("session.created", {"session_type": "Voice inbound"})
    s.at(60).add("session.ended", {"final_status": "finished", "disconnected_by": "end_user"})
    s.at(70).add(
        "stream.disposition",
        {
            "code": "test001",
            "custom_code_id": 123,
            "note": "Okee",
            "list": "Custom",
            "agent": "Alex B",
        },
    )
    doc = build(s)
    assert doc["disposition"] == {
        "code": "test001",
        "note": "Okee",
        "list": "Custom",
        "custom_code_id": "123",
        "platform_code_id": None,
        "custom_list_id": None,
        "platform_list_id": None,
        "agent": {"id": "Alex B", "name": None},
    }
    s.at(80).add("session.disposition", {"code": "Resolved"})
    s.at(90).add("stream.disposition", {"code": "later stream copy"})
    assert build(s)["disposition"]["code"] == "Resolved"


def test_menu_path_carries_the_materialized_path_under_both_names():
    menu = build(handled_call())["menu_path"]
    assert menu["id"] == menu["materialized_path"] == "2420/4563/6205"


def chat_with_text() -> SessionScript:
    s = SessionScript(session_id="c2", channel="chat")
    s.at(0).add("session.created", {"session_type": "Messaging (Web)"})
    s.at(5).add("chat.message", {"sender": "end_user", "message_id": "1", "text": "hello"})
    s.at(9).add("chat.message", {"sender": "agent", "message_id": "2"})
    s.at(30).add("session.ended", {"final_status": "finished", "disconnected_by": "agent"})
    return s


def test_the_transcript_is_null_unless_turned_on():
    assert build(chat_with_text())["transcript"] is None
    assert build(handled_call(), include_transcript=True)["transcript"] is None  # calls: none
    assert build(chat_with_text(), include_transcript=True)["transcript"] == [
        {"sender": "end_user", "text": "hello", "sent_at": "2023-09-11T09:42:06.000+03:00"},
        {"sender": "agent", "text": None, "sent_at": "2023-09-11T09:42:10.000+03:00"},
    ]


def test_without_a_usable_channel_the_session_type_names_it():
    s = SessionScript(channel="fax")
    s.at(0).add("session.created", {"session_type": "Messaging (Web)"})
    s.at(9).add("session.ended", {"final_status": "finished"})
    doc = build(s)
    assert (doc["channel"], doc["chat_type"], doc["call_type"]) == ("chat", "Messaging (Web)", None)
