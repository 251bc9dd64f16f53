"""The platform's fixed tables: session statuses, session types, event types."""

from __future__ import annotations

STATUS_CODES: dict[str, int] = {
    "scheduled": 0,
    "queued": 1,
    "assigned": 2,
    "connecting": 3,
    "switching": 4,
    "connected": 5,
    "finished": 8,
    "failed": 9,
    "recovered": 10,
    "deflected": 11,
    "selecting": 12,
    "va_assigned": 13,
    "va_connected": 14,
    "preview_pending": 15,
    "preview_ready": 16,
    "campaign_connecting": 17,
    "campaign_connected": 18,
    "requeued": 19,
    "predictive_waiting": 20,
    "progressive_waiting": 21,
    "preview_waiting": 22,
    "campaign_dialing": 23,
    "voicemail": 80,
    "voicemail_received": 81,
}

VOICE_SESSION_TYPES: tuple[str, ...] = (
    "Voice inbound",
    "Voice inbound (IVR by Mobile)",
    "Voice inbound (Mobile)",
    "Voice callback (Web)",
    "Voice inbound (API)",
    "Voice scheduled (Mobile)",
    "Voice scheduled (Web)",
    "Voice outbound",
    "Voice outbound (API)",
    "Voice Campaign",
    "Voice Inbound (IVR)",
)

CHAT_SESSION_TYPES: tuple[str, ...] = (
    "Messaging (Whatsapp)",
    "Messaging inbound (SMS)",
    "Messaging outbound (SMS)",
    "Messaging outbound (SMS by API)",
    "Messaging (Web)",
    "Messaging (Mobile)",
)

# Statuses that mean "an agent took the session" and "the agent is talking to the end user".
HUMAN_ASSIGNED = frozenset({"assigned"})
VIRTUAL_ASSIGNED = frozenset({"va_assigned"})
HUMAN_CONNECTED = frozenset({"connected", "campaign_connected"})
VIRTUAL_CONNECTED = frozenset({"va_connected"})

LIFECYCLE_TYPES: frozenset[str] = frozenset(
    {
        "session.created",
        "session.status_changed",
        "session.hold_started",
        "session.hold_ended",
        "session.transfer_started",
        "session.transfer_completed",
        "session.transfer_failed",
        "session.participant_joined",
        "session.participant_left",
        "session.deflected",
        "session.wrap_up_started",
        "session.wrap_up_ended",
        "session.ended",
        "chat.message",
        "session.recording_permission",
        "session.csat",
        "session.smart_action",
        "session.sms",
        "session.disposition",
    }
)

STREAM_NAMES: frozenset[str] = frozenset(
    {
        "call_started",
        "chat_started",
        "call_ended",
        "chat_ended",
        "custom_data",
        "phone_numbers",
        "va_transcript_uploaded",
        "dap_api_response",
        "dap_query_parameters",
        "verified",
        "payment",
        "customer_rating",
        "call_masked",
        "chat_transcript_uploaded",
        "photo_uploaded",
        "video_uploaded",
        "customer_text_note",
        "survey_response",
        "transfer_started",
        "transfer_completed",
        "transfer_failed",
        "participant_add_started",
        "participant_add_completed",
        "participant_add_failed",
        "cobrowse_data_uploaded",
        "agent_assist_summary",
        "emergency_services",
        "content_card_button",
        "sip_transfer",
        "va_recording",
        "va_transcript",
        "va_url_links",
        "va_session_variables",
        "cobrowse_started",
        "cobrowse_ended",
        "cobrowse_remote_control",
        "cobrowse_full_control",
        "sentiment_score",
        "customer_email",
        "realtime_transcript",
        "va_transcript_text",
        "instant_translation",
        "va_data_parameters",
        "presession_sms_deflection",
        "disposition",
        "insights_chat_history",
        "insights_call_recording",
        "call_recording",
        "inbound_sip_headers",
    }
)

STREAM_TYPES: frozenset[str] = frozenset(f"stream.{name}" for name in STREAM_NAMES)
EVENT_TYPES: frozenset[str] = LIFECYCLE_TYPES | STREAM_TYPES
