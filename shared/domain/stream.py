"""The payload of every ``stream.*`` event (seed 001), one loose model per type.

The data stream is kept as the platform sent it (``Event.data`` goes to the
datastream file untouched), so these models do not reshape anything: they name
the fields seed 001 shows, check their types loosely (a field of another shape
is reported, never refused) and give the JSON schema its documentation. Every
field is optional and unknown keys are kept, because a partial or newer payload
must never cost the session a data-stream item; junk
the platform sends (``purchaseDate: Invalid DateTime``, ``location: Location
not available``) sits in free-form maps typed ``dict[str, Any]``, times are
plain strings, and numbers that may come as text are ``str | float | int``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, WithJsonSchema

from shared.domain.shapes import AgentRef, Open

# ``Open`` turns numbers into text (the platform sends ids as 6679 or "6679"), while the file
# keeps them as sent: the schema must admit both, which pydantic does not say on its own.
Text = Annotated[str, WithJsonSchema({"type": ["string", "number"]})]
Number = str | float | int
Who = Text | dict[str, Any]  # a name ("Alex B") or an object ({"id": ..., "name": ...})


class CallStarted(Open):
    """Call started (seed: call id 6679, English (US), 2024-07-02 19:06:15 PDT, outbound number)."""

    call_id: Text | None = None
    call_type: Text | None = None
    lang: Text | None = None
    started_at: Text | None = None
    outbound_number: Text | None = None
    inbound_number: Text | None = None


class ChatStarted(Open):
    """Chat started (seed: chat id 3034, English (US), menu Orders/Returns, web browser)."""

    chat_id: Text | None = None
    chat_type: Text | None = None
    lang: Text | None = None
    menu: Text | dict[str, Any] | None = None
    started_at: Text | None = None
    device: Text | None = None


class CallEnded(Open):
    """Call ended (seed: call id 6722, disconnected by the agent, duration 00:21)."""

    call_id: Text | None = None
    disconnected_by: Text | None = None
    ended_at: Text | None = None
    duration: Number | None = None


class ChatEnded(Open):
    """Chat ended (seed: chat id 3036, disconnected by the end user)."""

    chat_id: Text | None = None
    disconnected_by: Text | None = None
    ended_at: Text | None = None


class CustomData(Open):
    """Custom customer data: a free map whose values may be junk (``Invalid DateTime``).

    The map sits under ``custom_data``; a payload that spreads it at the top level
    is kept too, as extra keys.
    """

    custom_data: dict[str, Any] | None = None


class PhoneNumbers(Open):
    """Phone numbers (seed: inbound +1 800 555 0175, callback +1 800 555 0100)."""

    inbound_number: Text | None = None
    callback_number: Text | None = None


class CrmLink(Open):
    """An upload attached to the CRM record: VA transcript, chat transcript, cobrowse data."""

    crm_link: Text | None = None


class DapApiResponse(Open):
    """Data access point API response: its result, key/value list and raw JSON.

    The seed's raw JSON is not even valid JSON, so ``raw_json`` takes anything.
    """

    result: Text | bool | dict[str, Any] | None = None
    key_values: dict[str, Any] | list[Any] | None = None
    raw_json: Any = None


class DapQueryParameters(Open):
    """Query parameters passed to the data access point API (seed: fixed_parameter, abc)."""

    parameters: dict[str, Any] | Text | None = None


class Verified(Open):
    """Verified (seed: by Alex B)."""

    verified_by: Who | None = None


class Payment(Open):
    """Payment data (seed: product, 10.00 USD, succeeded, transaction ch_3PYlfT, Alex B)."""

    product_name: Text | None = None
    amount: Number | None = None
    currency: Text | None = None
    status: Text | None = None
    transaction_id: Text | None = None
    agent: Who | None = None
    paid_at: Text | None = None


class CustomerRating(Open):
    """Customer rating (seed: score 5, text "très bien")."""

    score: Number | None = None
    text: Text | None = None


class CallMasked(Open):
    """Call masked (seed: 11:28:48 to 11:35:33, duration 06:45)."""

    started_at: Text | None = None
    ended_at: Text | None = None
    duration: Number | None = None


class StorageLink(Open):
    """A photo, screenshot or video uploaded to external storage."""

    external_storage_link: Text | None = None


class CustomerTextNote(Open):
    """A text note the customer sent."""

    text: Text | None = None


class SurveyAnswer(Open):
    """One survey question (seed: star rating 5, CSAT question 4)."""

    question: Text | None = None
    type: Text | None = None
    value: Number | bool | None = None


class SurveyResponse(Open):
    """Survey response: the answers and the CRM link."""

    responses: list[SurveyAnswer] | None = None
    crm_link: Text | None = None


class StreamTransfer(Open):
    """Transfer started, completed or failed (seed: SUPPORT_T1/PN/PN 1 to ORDERS_RETURNS/PN PN 2).

    ``from`` and ``to`` are queue paths or agent names in the seed, objects in the
    lifecycle events; both are kept. ``reason`` comes with a failure.
    """

    from_: Who | None = Field(None, alias="from")
    to: Who | None = None
    reason: Text | None = None


class ParticipantAdd(Open):
    """Adding a participant started, completed or failed (seed: PN (*1234), by PN 1)."""

    participant: Who | None = None
    added_by: Who | None = None
    reason: Text | None = None


class AgentAssistSummary(Open):
    """Summary generated by Agent Assist, and the agent it was for."""

    summary: Text | None = None
    agent: Who | None = None


class EmergencyServices(Open):
    """Someone adds emergency services to the call (seed: Ariel)."""

    added_by: Who | None = None


class ContentCardButton(Open):
    """The end user pressed a content-card button (seed: button Main, response 1, card Title 1)."""

    card_title: Text | None = None
    button: Text | None = None
    response: Number | None = None


class SipTransfer(Open):
    """Call redirected to an external SIP URI with data parameters (seed: userName)."""

    destination: Text | None = None
    parameters: dict[str, Any] | None = None


class VaPrivacy(Open):
    """Virtual-agent recording or transcript: not available, for the consumer's privacy."""

    available: bool | None = None
    reason: Text | None = None


class VaUrlLinks(Open):
    """URL links of a virtual agent (seed: Returnsbot)."""

    virtual_agent: Text | None = None
    urls: list[Any] | None = None


class VaSessionVariables(Open):
    """Variables a virtual agent captured (seed: chat 3070, agentHelpfulness 4, ...)."""

    chat_id: Text | None = None
    menu: Text | dict[str, Any] | None = None
    platform: Text | None = None
    workflow: Text | None = None
    virtual_agent: Text | None = None
    intent: Text | None = None
    captured_at: Text | None = None
    captured_variables: dict[str, Any] | None = None


class CobrowseStarted(Open):
    """Cobrowse (screen share) session started (seed: by the agent, 15:16:54)."""

    started_by: Who | None = None
    started_at: Text | None = None


class CobrowseEnded(Open):
    """Cobrowse session ended (seed: by the agent, 15:19:31)."""

    ended_by: Who | None = None
    ended_at: Text | None = None


class CobrowseControl(Open):
    """Remote or full device control during cobrowse: ``requested``, ``accepted``, ``declined``.

    Plain text rather than a closed set: a new value must not drop the item.
    """

    status: Text | None = None


class SentimentScore(Open):
    """Average sentiment score of the segment, 0..100 (seed: 52)."""

    average_score: Number | None = None


class CustomerEmail(Open):
    """The customer's e-mail address, as collected."""

    email: Text | None = None


class TranscriptLine(Open):
    time: Text | None = None
    speaker: Text | None = None
    text: Text | None = None


class Transcript(Open):
    """Real-time or virtual-agent transcript: header (call id, time, duration) and lines."""

    call_id: Text | None = None
    started_at: Text | None = None
    duration: Number | None = None
    lines: list[TranscriptLine] | None = None


class InstantTranslation(Open):
    """Instant translation was used between these languages (seed: es-ES and en-US)."""

    languages: list[Any] | None = None


class VaDataParameters(Open):
    """Data parameters passed to a virtual agent (seed: order, queueId 502, ...)."""

    virtual_agent: Text | None = None
    parameters: dict[str, Any] | None = None


class PresessionSmsDeflection(Open):
    """Pre-session SMS deflection, offered in a queue, and whether it was accepted."""

    offered_in: Text | None = None
    accepted: bool | Text | None = None


class StreamDisposition(Open):
    """Disposition (seed: code test001, ids 123/3, note Okee, list Custom 2222/3, Alex B)."""

    code: Text | None = None
    custom_code_id: Text | None = None
    platform_code_id: Text | None = None
    note: Text | None = None
    list_: Text | None = Field(None, alias="list")
    custom_list_id: Text | None = None
    platform_list_id: Text | None = None
    agent: AgentRef | None = None


class GcsUrl(Open):
    """CCAI Insights upload: chat history or call recording at a ``gs://`` URL."""

    gcs_url: Text | None = None


class CallRecording(Open):
    """Call recording: CRM link and external storage link (the reducer's recording URL)."""

    crm_link: Text | None = None
    external_storage_link: Text | None = None


class InboundSipHeaders(Open):
    """Inbound SIP headers passed as data parameters (seed: xTwilioAccountSid, ...)."""

    parameters: dict[str, Any] | None = None


_BY_NAME: dict[str, type[Open]] = {
    "call_started": CallStarted,
    "chat_started": ChatStarted,
    "call_ended": CallEnded,
    "chat_ended": ChatEnded,
    "custom_data": CustomData,
    "phone_numbers": PhoneNumbers,
    "va_transcript_uploaded": CrmLink,
    "dap_api_response": DapApiResponse,
    "dap_query_parameters": DapQueryParameters,
    "verified": Verified,
    "payment": Payment,
    "customer_rating": CustomerRating,
    "call_masked": CallMasked,
    "chat_transcript_uploaded": CrmLink,
    "photo_uploaded": StorageLink,
    "video_uploaded": StorageLink,
    "customer_text_note": CustomerTextNote,
    "survey_response": SurveyResponse,
    "transfer_started": StreamTransfer,
    "transfer_completed": StreamTransfer,
    "transfer_failed": StreamTransfer,
    "participant_add_started": ParticipantAdd,
    "participant_add_completed": ParticipantAdd,
    "participant_add_failed": ParticipantAdd,
    "cobrowse_data_uploaded": CrmLink,
    "agent_assist_summary": AgentAssistSummary,
    "emergency_services": EmergencyServices,
    "content_card_button": ContentCardButton,
    "sip_transfer": SipTransfer,
    "va_recording": VaPrivacy,
    "va_transcript": VaPrivacy,
    "va_url_links": VaUrlLinks,
    "va_session_variables": VaSessionVariables,
    "cobrowse_started": CobrowseStarted,
    "cobrowse_ended": CobrowseEnded,
    "cobrowse_remote_control": CobrowseControl,
    "cobrowse_full_control": CobrowseControl,
    "sentiment_score": SentimentScore,
    "customer_email": CustomerEmail,
    "realtime_transcript": Transcript,
    "va_transcript_text": Transcript,
    "instant_translation": InstantTranslation,
    "va_data_parameters": VaDataParameters,
    "presession_sms_deflection": PresessionSmsDeflection,
    "disposition": StreamDisposition,
    "insights_chat_history": GcsUrl,
    "insights_call_recording": GcsUrl,
    "call_recording": CallRecording,
    "inbound_sip_headers": InboundSipHeaders,
}
STREAM_PAYLOAD_MODELS: dict[str, type[Open]] = {f"stream.{n}": m for n, m in _BY_NAME.items()}
