"""A deterministic traffic simulator: many sessions' platform events, as Pub/Sub delivers them.

Why it exists: the demo, the tests and the benchmarks need realistic traffic that is the same
on every run. Everything derives from ``seed`` and ``now`` (no wall clock, no set or hash
order), so the same arguments give byte-identical lines.

What it makes follows the input contract (``platform-events.md``): every good envelope
parses with ``shared.domain.events.parse_event``; each bad line breaks exactly one rule of
the contract's last section and belongs to a session of its own, so rejecting it loses no
other event; the lines come shuffled across and within sessions, some of them twice, as an
at-least-once, unordered delivery does.

Each session is built on a relative clock by a scenario (a journey of one session type),
then anchored in time: most end 20 minutes to 3 hours before ``now`` (their file is due),
a fraction ended 0-5 minutes ago (not due yet), and "stuck" sessions started more than
25 hours ago and never end (the stuck timeout must finalize them).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from shared.domain.catalog import STATUS_CODES
from shared.domain.events import MAX_PAYLOAD_BYTES, SPEC_VERSION


@dataclass(frozen=True)
class SimulatedSession:
    """One session and its good events, in occurrence order, each once."""

    session_id: str
    scenario: str
    channel: str
    session_type: str
    ended_at: datetime | None  # None for a session that never ends (stuck)
    events: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Traffic:
    """The sessions and the bytes to publish for them."""

    sessions: tuple[SimulatedSession, ...]
    bad_lines: tuple[bytes, ...]  # each breaks one rule of the contract's last section
    lines: tuple[bytes, ...]  # good envelopes (some twice) and bad lines, shuffled


# --- time ------------------------------------------------------------------------------------

OFFSETS: tuple[timezone, ...] = (UTC, timezone(timedelta(hours=3)), timezone(timedelta(hours=-7)))
DUE_AGO = (timedelta(minutes=20), timedelta(hours=3))
RECENT_AGO_MAX = timedelta(minutes=5)
STUCK_AGO = (timedelta(hours=25), timedelta(hours=30))
MIXED_OFFSETS_SHARE = 0.2  # sessions whose events each carry their own offset
SEQUENCE_SHARE = 0.5  # sessions whose events carry ``sequence``


@dataclass(frozen=True)
class _At:
    """A time inside a payload, in ms on the session's clock; written once the session is placed."""

    ms: int


def _stamp(at: datetime, tz: timezone) -> str:
    """The contract's form: ``2023-09-11T09:42:01.000+03:00``."""
    return at.astimezone(tz).isoformat(timespec="milliseconds")


def _floor_ms(at: datetime) -> datetime:
    """Events carry milliseconds only: flooring ``now`` keeps ``ended_at`` equal to its stamp."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def _between(rng: random.Random, low: timedelta, high: timedelta) -> timedelta:
    return timedelta(milliseconds=rng.randint(_ms(low), _ms(high)))


def _ms(delta: timedelta) -> int:
    return round(delta.total_seconds() * 1000)


# --- reference data (tuples, never sets: iteration order must not vary) ------------------------

AGENTS: tuple[tuple[str, str, str], ...] = (
    ("104", "Alex", "Brown"),
    ("117", "Noam", "Bauer"),
    ("121", "Ariel", "Costa"),
    ("133", "Mina", "Sato"),
    ("140", "Jon", "Okafor"),
    ("152", "Lara", "Brandt"),
)
VIRTUAL_AGENT = {"id": "va-7", "name": "Returnsbot"}
MENUS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("6205", "Returns", "2420/4563/6205", ("Support", "Orders", "Returns")),
    ("6211", "Billing", "2420/4570/6211", ("Support", "Account", "Billing")),
    ("6230", "Technical help", "2420/4581/6230", ("Support", "Devices", "Technical help")),
    ("502", "Orders", "502", ("Orders",)),
)
LANGS = ("en", "en-US", "es", "pt-BR", "fr")
SUPPORT_NUMBER = "+12223334444"
OUTBOUND_NUMBER = "+12223335555"

# session type -> (menu_type, direction, device)
PROFILES: dict[str, tuple[str, str, str | None]] = {
    "Voice inbound": ("ivr", "inbound", None),
    "Voice inbound (IVR by Mobile)": ("ivr", "inbound", "android"),
    "Voice inbound (Mobile)": ("mobile", "inbound", "ios"),
    "Voice callback (Web)": ("web", "inbound", "browser"),
    "Voice inbound (API)": ("api", "inbound", None),
    "Voice scheduled (Mobile)": ("mobile", "inbound", "android"),
    "Voice scheduled (Web)": ("web", "inbound", "browser"),
    "Voice outbound": ("outbound", "outbound", None),
    "Voice outbound (API)": ("api", "outbound", None),
    "Voice Campaign": ("campaign", "outbound", None),
    "Voice Inbound (IVR)": ("ivr", "inbound", None),
    "Messaging (Whatsapp)": ("whatsapp", "inbound", "whatsapp"),
    "Messaging inbound (SMS)": ("sms", "inbound", None),
    "Messaging outbound (SMS)": ("sms", "outbound", None),
    "Messaging outbound (SMS by API)": ("api", "outbound", None),
    "Messaging (Web)": ("web", "inbound", "browser"),
    "Messaging (Mobile)": ("mobile", "inbound", "ios"),
}

TEXTS: dict[str, tuple[str, ...]] = {
    "end_user": (
        "Hi, my order never arrived.",
        "Olá, meu pedido não chegou.",
        "¿Dónde está mi pedido?",
        "It is order 77412.",
        "agent please",
        "Thanks, that helps!",
        "très bien, merci",
    ),
    "agent": (
        "Hello, I'm happy to help. Could you share your order number?",
        "Thanks, I can see it. It left the warehouse yesterday.",
        "I have sent you a tracking link by SMS.",
        "Is there anything else I can do for you?",
    ),
    "virtual_agent": (
        "Hi! I'm Returnsbot. What can I do for you?",
        "I can help with returns and order status.",
        "Let me get a human agent for you.",
    ),
    "system": ("Your order 77412 has shipped. Reply to this message if you need help.",),
}

CUSTOM_DATA: tuple[tuple[str, Any], ...] = (
    ("membershipNumber", 21754),
    ("model", "1234"),
    ("purchaseDate", "Invalid DateTime"),
    ("temperature", 70.5),
    ("osVersion", "17.3.1"),
    ("lastTransactionId", "FEBA4C32-1DD5-4C0A-985C-78FB7A61A166"),
    ("dashboardUrl", "http://internal.dashboard.com/1234"),
    ("location", "Location not available"),
    ("bluetooth", "Bluetooth state unknown"),
)


def _agent(agent: tuple[str, str, str], *, full: bool = False) -> dict[str, Any]:
    """An agent reference: ``{id, name}``, or with names and e-mail where the contract has them."""
    agent_id, first, last = agent
    ref: dict[str, Any] = {"id": f"agent-{agent_id}", "name": f"{first} {last[0]}"}
    if full:
        ref |= {
            "first_name": first,
            "last_name": last,
            "email": f"{first.lower()}.{last.lower()}@example.com",
        }
    return ref


def _agent_participant(agent: tuple[str, str, str]) -> dict[str, Any]:
    return {"id": f"agent-{agent[0]}", "type": "agent", "name": _agent(agent)["name"]}


# --- one session on its own clock ------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    at_ms: int
    type: str
    data: dict[str, Any]


class _Journey:
    """One session's steps on a relative clock (ms), built before the session is placed in time.

    Builders therefore need not know whether their session will be due, recent or stuck;
    payload times are ``_At`` markers, written out once the start is known.
    """

    def __init__(self, rng: random.Random, session_id: str, scenario: Scenario) -> None:
        self.rng = rng
        self.sid = session_id
        self.channel = scenario.channel
        self.session_type = scenario.session_type
        self.steps: list[_Step] = []
        self.clock = 0
        self.end_index: int | None = None
        self.lang = rng.choice(LANGS)
        self.menu = rng.choice(MENUS)
        self.agent, self.second_agent = rng.sample(AGENTS, 2)
        number = rng.randint(100, 199)
        self.end_user = {
            "id": f"eu-{rng.randint(1000, 9999)}",
            "identifier": f"customer-{rng.randint(10000, 99999)}",
            "phone": f"+1800555{number:04d}",
            "email": f"customer{number}@example.com",
        }
        self._messages = 0

    # low level

    def wait(self, low: float, high: float) -> None:
        """Let ``low``..``high`` seconds pass (at least 1 ms, so that times strictly increase)."""
        self.clock += max(1, round(self.rng.uniform(low, high) * 1000))

    def emit(
        self, event_type: str, data: dict[str, Any], after: tuple[float, float] = (1.0, 8.0)
    ) -> dict[str, Any]:
        self.wait(*after)
        self.steps.append(_Step(self.clock, event_type, data))
        return data

    def stream(
        self, name: str, data: dict[str, Any], after: tuple[float, float] = (0.2, 3.0)
    ) -> None:
        self.emit(f"stream.{name}", data, after)

    # lifecycle pieces

    def created(self, **extra: Any) -> dict[str, Any]:
        menu_type, direction, device = PROFILES[self.session_type]
        menu_id, name, path, names = self.menu
        data: dict[str, Any] = {
            "session_type": self.session_type,
            "lang": self.lang,
            "menu": {
                "id": menu_id,
                "name": name,
                "path": path,
                "path_names": list(names),
                "menu_type": menu_type,
            },
        }
        if direction == "inbound" and (self.channel == "voice" or menu_type == "sms"):
            data["support_number"] = SUPPORT_NUMBER
        if direction == "outbound":
            data["outbound_number"] = OUTBOUND_NUMBER
        data["queue_priority"] = self.rng.randint(1, 8)
        data["end_user"] = dict(self.end_user)
        if device is not None:
            data["device"] = device
        data |= extra
        return self.emit("session.created", data, after=(0.0, 0.5))

    def status(self, name: str, after: tuple[float, float] = (1.0, 8.0), **extra: Any) -> None:
        """A status change; the code always comes from the contract's table."""
        self.emit(
            "session.status_changed",
            {"status": name, "status_code": STATUS_CODES[name]} | extra,
            after,
        )

    def queued(self, after: tuple[float, float] = (2.0, 15.0)) -> None:
        menu_id, name, path, _ = self.menu
        self.status("queued", after, queue={"id": menu_id, "name": name, "path": path})

    def assigned(
        self, agent: tuple[str, str, str], after: tuple[float, float] = (10.0, 90.0)
    ) -> None:
        self.status("assigned", after, agent=_agent(agent, full=True))

    def join(self, participant: dict[str, Any]) -> None:
        self.emit("session.participant_joined", {"participant": participant}, after=(0.1, 2.0))

    def leave(self, participant: dict[str, Any]) -> None:
        self.emit("session.participant_left", {"participant": participant}, after=(0.1, 2.0))

    def end_user_participant(self) -> dict[str, Any]:
        return {
            "id": self.end_user["id"],
            "type": "end_user",
            "name": "Customer",
            "phone": self.end_user["phone"],
        }

    def answer(self, agent: tuple[str, str, str], *, connecting: bool = True) -> None:
        """Assigned -> (connecting ->) connected, with both sides joining."""
        self.assigned(agent)
        if connecting:
            self.status("connecting", (1.0, 6.0))
        self.status("connected", (2.0, 10.0))
        self.join(self.end_user_participant())
        self.join(_agent_participant(agent))

    def hold(self, agent: tuple[str, str, str]) -> None:
        self.emit("session.hold_started", {"agent": _agent(agent)}, after=(20.0, 120.0))
        self.emit("session.hold_ended", {"agent": _agent(agent)}, after=(5.0, 60.0))

    def end(self, final_status: str, by: str, **extra: Any) -> None:
        self.end_index = len(self.steps)
        self.emit(
            "session.ended",
            {"final_status": final_status, "disconnected_by": by} | extra,
            after=(20.0, 240.0),
        )

    def wrap_up(self, agent: tuple[str, str, str]) -> None:
        """After the end: wrap-up with a disposition (also in the data stream)."""
        self.emit("session.wrap_up_started", {"agent": _agent(agent)}, after=(0.5, 3.0))
        code, note = self.rng.choice(
            (
                ("resolved", "Customer needed our hours of operation; no further questions."),
                ("test001", "Okee"),
                ("refund_issued", "Refund of 10.00 USD issued."),
                ("follow_up", None),
            )
        )
        disposition: dict[str, Any] = {
            "code": code,
            "custom_code_id": "123",
            "platform_code_id": "3",
            "list": "Custom",
            "custom_list_id": "2222",
            "platform_list_id": "3",
            "agent": _agent(agent),
        }
        if note is not None:
            disposition["note"] = note
        self.emit("session.disposition", disposition, after=(10.0, 60.0))
        if self.rng.random() < 0.5:
            self.stream("disposition", dict(disposition))
        self.emit("session.wrap_up_ended", {"agent": _agent(agent)}, after=(5.0, 40.0))

    def csat(self) -> None:
        """Captured after the interaction ends (seed 002)."""
        data: dict[str, Any] = {"rating": self.rng.randint(1, 4)}
        if self.rng.random() < 0.6:
            data["comment"] = self.rng.choice(
                ("Great job, I love my agent", "Took too long", "ok", "Muito obrigado!")
            )
        self.emit("session.csat", data, after=(10.0, 45.0))

    def messages(self, *senders: str) -> None:
        """Chat messages; about a quarter carry no text (privacy), as the contract allows."""
        for sender in senders:
            self._messages += 1
            data: dict[str, Any] = {
                "sender": sender,
                "message_id": f"{self.sid}-m{self._messages:02d}",
            }
            if self.rng.random() >= 0.25:
                data["text"] = self.rng.choice(TEXTS[sender])
            self.emit("chat.message", data, after=(3.0, 40.0))

    # data stream pieces

    def opening_stream(self, *, custom_data: bool = True) -> None:
        """``call_started``/``chat_started`` and usually the customer's custom data."""
        if self.channel == "voice":
            number_key = (
                "outbound_number"
                if PROFILES[self.session_type][1] == "outbound"
                else "inbound_number"
            )
            number = OUTBOUND_NUMBER if number_key == "outbound_number" else SUPPORT_NUMBER
            self.stream(
                "call_started",
                {
                    "call_id": self.sid,
                    "language": self.lang,
                    "time": _At(self.clock),
                    number_key: number,
                },
            )
        else:
            self.stream(
                "chat_started",
                {
                    "chat_id": self.sid,
                    "language": self.lang,
                    "menu": "/".join(self.menu[3]),
                    "time": _At(self.clock),
                    "device": PROFILES[self.session_type][2] or "sms",
                },
            )
        if custom_data:
            picked = [item for item in CUSTOM_DATA if self.rng.random() < 0.6]
            self.stream("custom_data", dict(picked or CUSTOM_DATA[:3]))

    def closing_stream(self, by: str) -> None:
        start = self.steps[0].at_ms
        if self.channel == "voice":
            seconds = (self.clock - start) // 1000
            self.stream(
                "call_ended",
                {
                    "call_id": self.sid,
                    "disconnected_by": by,
                    "time": _At(self.clock),
                    "duration": f"{seconds // 60:02d}:{seconds % 60:02d}",
                },
                after=(0.1, 1.0),
            )
        else:
            self.stream(
                "chat_ended",
                {"chat_id": self.sid, "disconnected_by": by, "time": _At(self.clock)},
                after=(0.1, 1.0),
            )

    def transcript(self, name: str = "realtime_transcript", speaker: str = "Agent") -> None:
        """A transcript item whose lines precede it (it is sent once the segment is over)."""
        self.wait(20.0, 60.0)
        lines = [
            ("Hello, I am CX agent number 1. How can I help you?", speaker),
            ("human agent", "Consumer"),
            ("Sure, one moment please.", speaker),
        ][: self.rng.randint(2, 3)]
        first = self.clock - 25_000
        self.stream(
            name,
            {
                "call_id": self.sid,
                "header_time": _At(first),
                "duration": "00:25",
                "lines": [
                    {"time": _At(first + 2_000 + 5_000 * k), "speaker": who, "text": text}
                    for k, (text, who) in enumerate(lines)
                ],
            },
        )

    def recording(self) -> None:
        """``call_recording``: the reducer takes the external storage link as the recording URL."""
        token = f"{self.rng.getrandbits(64):016x}"
        self.stream(
            "call_recording",
            {
                "crm_link": f"https://example.com/attachments/token/{token}",
                "external_storage_link": f"https://example.com/v1/download/{token}-{self.sid}",
            },
            after=(5.0, 30.0),
        )

    def extras(self, low: int, high: int) -> None:
        """A few more data-stream items, drawn without repetition from the channel's pool."""
        pool = CALL_EXTRAS if self.channel == "voice" else CHAT_EXTRAS
        for make in self.rng.sample(pool, self.rng.randint(low, high)):
            name, data = make(self)
            self.stream(name, data, after=(2.0, 30.0))


# data-stream items of seed 001 that any session of the channel may carry


def _x_phone_numbers(j: _Journey) -> tuple[str, dict[str, Any]]:
    return "phone_numbers", {"inbound": SUPPORT_NUMBER, "callback": j.end_user["phone"]}


def _x_sentiment(j: _Journey) -> tuple[str, dict[str, Any]]:
    return "sentiment_score", {"segment_average": j.rng.randint(0, 100)}


def _x_email(j: _Journey) -> tuple[str, dict[str, Any]]:
    return "customer_email", {"address": j.end_user["email"]}


def _x_assist(j: _Journey) -> tuple[str, dict[str, Any]]:
    return "agent_assist_summary", {
        "summary": "The customer asks where the order is. No agent action required.",
        "agent": _agent(j.agent)["name"],
    }


def _x_payment(j: _Journey) -> tuple[str, dict[str, Any]]:
    return "payment", {
        "product": "Sample product",
        "amount": "10.00",
        "currency": "USD",
        "status": j.rng.choice(("succeeded", "failed")),
        "transaction_id": f"ch_{j.rng.getrandbits(32):08x}",
        "agent": _agent(j.agent)["name"],
        "time": _At(j.clock),
    }


def _x_dap(j: _Journey) -> tuple[str, dict[str, Any]]:
    return "dap_api_response", {
        "result": True,
        "values": [{"key": "key", "value": "zulu"}, {"key": "priority", "value": 1}],
        "raw": '{"key": "zulu", "priority: 1, "user_type": "shopper"}',  # broken, as in seed 001
    }


def _x_sip_headers(j: _Journey) -> tuple[str, dict[str, Any]]:
    return "inbound_sip_headers", {
        "parameters": {"xTwilioAccountSid": "AC78449ee33", "xInboundVpsip": "true"}
    }


def _x_insights_call(j: _Journey) -> tuple[str, dict[str, Any]]:
    return "insights_call_recording", {"gcs_url": f"gs://example-insights/oem/{j.sid}.wav"}


def _x_masked(j: _Journey) -> tuple[str, dict[str, Any]]:
    return "call_masked", {
        "start": _At(j.clock - 405_000),
        "end": _At(j.clock),
        "duration": "06:45",
    }


def _x_translation(j: _Journey) -> tuple[str, dict[str, Any]]:
    return "instant_translation", {"languages": ["es-ES", "en-US"]}


def _x_survey(j: _Journey) -> tuple[str, dict[str, Any]]:
    return "survey_response", {
        "answers": [
            {"question": "Star rating question", "type": "stars", "value": j.rng.randint(1, 5)},
            {"question": "CSAT question", "type": "csat", "value": j.rng.randint(1, 4)},
        ],
        "crm_link": "https://example.com/attachments/token/survey",
    }


def _x_text_note(j: _Journey) -> tuple[str, dict[str, Any]]:
    return "customer_text_note", {"text": j.rng.choice(("Bonjour,", "Please call me after 5pm."))}


def _x_insights_chat(j: _Journey) -> tuple[str, dict[str, Any]]:
    return "insights_chat_history", {"gcs_url": f"gs://example-insights/oem/{j.sid}.json"}


def _x_card(j: _Journey) -> tuple[str, dict[str, Any]]:
    return "content_card_button", {"card": "Title 1", "button": "Primary", "response": 1}


def _x_links(j: _Journey) -> tuple[str, dict[str, Any]]:
    return "va_url_links", {
        "virtual_agent": VIRTUAL_AGENT["name"],
        "urls": ["https://example.com/returns/"],
    }


CALL_EXTRAS: tuple[Callable[[_Journey], tuple[str, dict[str, Any]]], ...] = (
    _x_phone_numbers,
    _x_sentiment,
    _x_email,
    _x_assist,
    _x_payment,
    _x_dap,
    _x_sip_headers,
    _x_insights_call,
    _x_masked,
    _x_translation,
    _x_survey,
)
CHAT_EXTRAS: tuple[Callable[[_Journey], tuple[str, dict[str, Any]]], ...] = (
    _x_sentiment,
    _x_email,
    _x_assist,
    _x_payment,
    _x_text_note,
    _x_insights_chat,
    _x_card,
    _x_links,
    _x_translation,
)


# --- scenarios -------------------------------------------------------------------------------


def _ivr_call(j: _Journey) -> None:
    """IVR menu, queue, agent, two holds, wrap-up with a disposition."""
    j.created()
    j.opening_stream()
    j.status("selecting", (3.0, 20.0))
    j.queued()
    j.answer(j.agent)
    j.emit("session.recording_permission", {"permission": "granted"})
    j.hold(j.agent)
    j.transcript()
    j.hold(j.agent)
    j.extras(0, 2)
    by = j.rng.choice(("agent", "end_user"))
    j.end("finished", by)
    j.closing_stream(by)
    j.wrap_up(j.agent)
    j.recording()


def _abandoned_call(j: _Journey) -> None:
    """The caller hangs up while queued: never assigned."""
    j.created()
    j.opening_stream()
    j.status("selecting", (3.0, 20.0))
    j.queued()
    j.emit("session.sms", {"kind": "wait_time", "direction": "outbound"}, after=(30.0, 90.0))
    j.extras(2, 3)
    j.end("finished", "end_user")
    j.closing_stream("end_user")


def _transfer_call(j: _Journey) -> None:
    """Agent A transfers to agent B; A leaves, rejoins briefly, leaves; B holds once more."""
    a, b = j.agent, j.second_agent
    j.created()
    j.opening_stream(custom_data=False)
    j.queued()
    j.answer(a, connecting=False)
    j.hold(a)
    transfer = {
        "transfer_id": f"{j.sid}-t1",
        "from": {"agent": f"agent-{a[0]}", "menu_path": j.menu[2]},
        "to": {"agent": f"agent-{b[0]}"},
    }
    j.emit("session.transfer_started", dict(transfer), after=(30.0, 120.0))
    j.status("switching", (0.5, 2.0))
    j.join(_agent_participant(b))
    j.emit("session.transfer_completed", dict(transfer), after=(5.0, 20.0))
    j.stream("transfer_completed", {"from": _agent(a)["name"], "to": _agent(b)["name"]})
    j.assigned(b, after=(0.5, 2.0))
    j.status("connected", (0.5, 3.0))
    j.leave(_agent_participant(a))
    j.join(_agent_participant(a))  # a rejoin is a new participant record
    j.leave(_agent_participant(a))
    j.hold(b)
    j.end("finished", "end_user")
    j.closing_stream("end_user")
    j.wrap_up(b)


def _failed_transfer_call(j: _Journey) -> None:
    """A transfer to another queue fails; the first agent finishes the call."""
    j.created()
    j.opening_stream()
    j.queued()
    j.answer(j.agent)
    j.emit("session.recording_permission", {"permission": "denied"})
    transfer = {
        "transfer_id": f"{j.sid}-t1",
        "from": {"agent": f"agent-{j.agent[0]}", "menu_path": j.menu[2]},
        "to": {"menu_path": "2420/4570/6211"},
    }
    j.emit("session.transfer_started", dict(transfer), after=(30.0, 120.0))
    j.stream("transfer_started", {"from": j.menu[2], "to": "2420/4570/6211"})
    j.emit(
        "session.transfer_failed",
        dict(transfer) | {"reason": "no_agent_available"},
        after=(20.0, 60.0),
    )
    j.stream("transfer_failed", {"from": j.menu[2], "to": "2420/4570/6211"})
    j.extras(0, 2)
    j.end("finished", "agent")
    j.closing_stream("agent")
    j.wrap_up(j.agent)


def _virtual_agent_call(j: _Journey) -> None:
    """A virtual agent handles the whole call and ends it."""
    j.created()
    j.opening_stream()
    j.status("va_assigned", (2.0, 6.0), agent=dict(VIRTUAL_AGENT))
    j.status("va_connected", (0.5, 3.0))
    j.join(j.end_user_participant())
    j.join({"id": VIRTUAL_AGENT["id"], "type": "virtual_agent", "name": VIRTUAL_AGENT["name"]})
    j.stream(
        "va_session_variables",
        {
            "chat_id": j.sid,
            "menu": "/".join(j.menu[3]),
            "platform": "Virtual agent PN",
            "workflow": "Transfer after session - Voice",
            "virtual_agent": VIRTUAL_AGENT["name"],
            "intent": "order_status",
            "captured_at": _At(j.clock),
            "variables": {"agentHelpfulness": 4, "issueResolution": "yes"},
        },
        after=(20.0, 90.0),
    )
    j.transcript("va_transcript_text", speaker="Virtual agent PN - Voice")
    j.stream("va_recording", {"available": False, "reason": "unavailable for privacy"})
    j.stream(
        "va_data_parameters",
        {"virtual_agent": VIRTUAL_AGENT["name"], "parameters": {"order": "yes", "queueId": 502}},
    )
    j.extras(1, 2)
    j.end("finished", "virtual_agent")
    j.closing_stream("virtual_agent")
    j.csat()


def _preview_campaign_call(j: _Journey) -> None:
    """Preview dialer: the agent previews the customer before the call is dialled."""
    j.created(campaign={"id": "cmp-31", "name": "Renewals", "mode": "preview"})
    j.status("preview_pending", (0.5, 2.0), agent=_agent(j.agent, full=True))
    j.status("preview_ready", (5.0, 30.0))
    j.assigned(j.agent, after=(5.0, 40.0))  # the agent accepts the previewed call
    j.status("campaign_dialing", (1.0, 5.0))
    j.opening_stream(custom_data=False)
    j.status("campaign_connecting", (5.0, 20.0))
    j.status("campaign_connected", (2.0, 8.0))
    j.join(_agent_participant(j.agent))
    j.join(j.end_user_participant())
    j.transcript()
    j.extras(1, 2)
    by = j.rng.choice(("agent", "end_user"))
    j.end("finished", by)
    j.closing_stream(by)
    j.wrap_up(j.agent)
    j.recording()


def _dialer_campaign_call(mode: str) -> Callable[[_Journey], None]:
    """Progressive or predictive dialer: the agent waits, the dialer calls."""

    def build(j: _Journey) -> None:
        j.created(campaign={"id": f"cmp-{len(mode)}", "name": "Win-back", "mode": mode})
        j.status(f"{mode}_waiting", (0.5, 2.0), agent=_agent(j.agent, full=True))
        j.status("campaign_dialing", (5.0, 40.0))
        j.opening_stream(custom_data=False)
        j.assigned(j.agent, after=(5.0, 20.0))  # the end user answered: the call goes to the agent
        j.status("campaign_connecting", (0.5, 3.0))
        j.status("campaign_connected", (1.0, 4.0))
        j.join(_agent_participant(j.agent))
        j.join(j.end_user_participant())
        j.emit("session.recording_permission", {"permission": "not_asked"})
        j.extras(2, 3)
        j.end("finished", j.rng.choice(("agent", "end_user")))
        j.wrap_up(j.agent)

    build.__name__ = f"_{mode}_campaign_call"
    return build


def _voicemail_call(j: _Journey) -> None:
    """Deflected to voicemail: voicemail (80), then voicemail_received (81)."""
    j.created()
    j.opening_stream()
    j.status("selecting", (3.0, 20.0))
    j.queued()
    j.emit(
        "session.deflected", {"deflection": "voicemail", "channel": "voice"}, after=(60.0, 180.0)
    )
    j.status("voicemail", (0.5, 2.0))
    j.extras(1, 2)
    j.status("voicemail_received", (20.0, 90.0))
    j.end("voicemail_received", "end_user", voicemail_reason="queue_overcapacity")
    j.closing_stream("end_user")
    j.recording()


def _after_hours_call(j: _Journey) -> None:
    """Closed hours: a message is played and the call is deflected."""
    j.created()
    j.opening_stream()
    j.status("selecting", (3.0, 20.0))
    j.emit(
        "session.deflected",
        {"deflection": "after_hours_message_only", "channel": "voice"},
        after=(1.0, 5.0),
    )
    j.status("deflected", (0.5, 2.0))
    j.extras(3, 4)
    j.end("deflected", "system")
    j.closing_stream("system")


def _scheduled_call(j: _Journey) -> None:
    """Scheduled for later (status scheduled, ``scheduled_at``); the call happens then."""
    created = j.created()
    delay_ms = j.rng.randint(30, 90) * 60_000
    created["scheduled_at"] = _At(j.clock + delay_ms)
    j.status("scheduled", (0.5, 3.0))
    j.clock = created["scheduled_at"].ms
    j.opening_stream()
    j.queued(after=(1.0, 5.0))
    j.answer(j.agent)
    j.transcript()
    j.extras(1, 2)
    j.end("finished", "agent")
    j.closing_stream("agent")
    j.wrap_up(j.agent)


def _outbound_call(j: _Journey) -> None:
    """An agent dials out: outbound number, no support number, no queue."""
    j.created()
    j.assigned(j.agent, after=(0.5, 2.0))
    j.status("connecting", (1.0, 4.0))
    j.opening_stream(custom_data=False)
    j.status("connected", (5.0, 25.0))
    j.join(_agent_participant(j.agent))
    j.join(j.end_user_participant())
    j.emit("session.recording_permission", {"permission": "not_asked"})
    j.transcript()
    j.emit("session.sms", {"kind": "in_call", "direction": "outbound"})
    j.extras(0, 2)
    j.end("finished", "agent")
    j.closing_stream("agent")
    j.wrap_up(j.agent)
    j.recording()


def _failed_call(j: _Journey) -> None:
    """The connection to the agent fails: final status failed with reason and details."""
    j.created()
    j.opening_stream()
    j.status("selecting", (3.0, 20.0))
    j.queued()
    j.assigned(j.agent)
    j.status("connecting", (1.0, 6.0))
    j.extras(1, 3)
    j.status("failed", (10.0, 30.0), reason="agent_connection_failed")
    j.end(
        "failed",
        "system",
        fail_reason="agent_connection_failed",
        fail_details={"sip_code": 480, "message": "Temporarily Unavailable"},
    )
    j.closing_stream("system")


def _recovered_call(j: _Journey) -> None:
    """The call drops while connected, the platform calls back, and it completes."""
    j.created()
    j.opening_stream()
    j.status("selecting", (3.0, 20.0))
    j.queued()
    j.answer(j.agent)
    j.status("failed", (30.0, 120.0), reason="call_dropped")
    j.status("recovered", (10.0, 40.0))
    j.status("connected", (2.0, 10.0))
    j.extras(1, 2)
    j.end("recovered", "agent")
    j.closing_stream("agent")
    j.wrap_up(j.agent)


def _smart_actions_call(j: _Journey) -> None:
    """Mobile call with SMS, verification and a photo upload, then a CSAT."""
    j.created()
    j.opening_stream()
    j.queued()
    j.emit("session.sms", {"kind": "wait_time", "direction": "outbound"}, after=(10.0, 30.0))
    j.answer(j.agent, connecting=False)
    j.emit("session.recording_permission", {"permission": "granted"})
    j.emit(
        "session.smart_action", {"action": "verification", "status": "verified"}, after=(20.0, 60.0)
    )
    j.stream("verified", {"by": _agent(j.agent)["name"]})
    j.emit("session.sms", {"kind": "in_call", "direction": "outbound"})
    j.emit(
        "session.smart_action",
        {"action": "photo", "status": "uploaded", "count": 2},
        after=(30.0, 90.0),
    )
    j.stream(
        "photo_uploaded",
        {"external_storage_link": f"https://example.com/attachments/token/{j.sid}-p1"},
    )
    j.emit("session.sms", {"kind": "in_call", "direction": "inbound"})
    j.end("finished", "end_user")
    j.wrap_up(j.agent)
    j.csat()


def _web_chat(j: _Journey) -> None:
    """A chat answered by an agent, wrap-up, transcript upload and CSAT."""
    j.created()
    j.opening_stream()
    j.queued(after=(1.0, 5.0))
    j.messages("end_user")
    j.answer(j.agent, connecting=False)
    j.messages("agent", "end_user", "agent", "end_user", "agent")
    j.extras(0, 1)
    j.end("finished", "end_user")
    j.closing_stream("end_user")
    j.wrap_up(j.agent)
    j.stream(
        "chat_transcript_uploaded", {"crm_link": f"https://example.com/attachments/token/{j.sid}"}
    )
    j.csat()


def _va_chat(j: _Journey) -> None:
    """A virtual agent chats first, then hands over to a human agent."""
    j.created()
    j.opening_stream(custom_data=False)
    j.status("va_assigned", (0.5, 2.0), agent=dict(VIRTUAL_AGENT))
    j.status("va_connected", (0.5, 2.0))
    j.messages("virtual_agent", "end_user", "virtual_agent", "end_user", "virtual_agent")
    j.queued(after=(1.0, 4.0))
    j.answer(j.agent, connecting=False)
    j.messages("agent", "end_user", "agent")
    j.emit("session.smart_action", {"action": "text_input", "status": "submitted"})
    j.end("finished", "agent")
    j.closing_stream("agent")


def _abandoned_chat(j: _Journey) -> None:
    """The end user writes, waits, and leaves before any agent takes the chat."""
    j.created()
    j.opening_stream()
    j.queued(after=(1.0, 4.0))
    j.messages("end_user", "end_user", "end_user")
    j.extras(2, 3)
    j.end("finished", "end_user")
    j.closing_stream("end_user")


def _sms_chat(j: _Journey) -> None:
    """Inbound SMS conversation with an agent."""
    j.created()
    j.opening_stream(custom_data=False)
    j.queued(after=(1.0, 4.0))
    j.messages("end_user")
    j.answer(j.agent, connecting=False)
    j.messages("agent", "end_user", "agent", "end_user")
    j.extras(1, 2)
    j.end("finished", "agent")
    j.wrap_up(j.agent)
    j.csat()


def _outbound_sms_chat(j: _Journey) -> None:
    """An agent starts an SMS conversation: assigned from the start, agent writes first."""
    j.created()
    j.assigned(j.agent, after=(0.5, 2.0))
    j.status("connected", (0.5, 2.0))
    j.opening_stream(custom_data=False)
    j.join(_agent_participant(j.agent))
    j.messages("agent", "end_user", "agent", "end_user")
    j.extras(1, 2)
    j.end("finished", "agent")
    j.closing_stream("agent")
    j.wrap_up(j.agent)


def _outbound_sms_api_chat(j: _Journey) -> None:
    """An API sends a system SMS; the end user replies and is routed to an agent."""
    j.created()
    j.opening_stream()
    j.messages("system")
    j.wait(60.0, 600.0)
    j.messages("end_user")
    j.queued(after=(1.0, 4.0))
    j.answer(j.agent, connecting=False)
    j.messages("agent", "end_user")
    j.extras(1, 2)
    j.end("finished", "end_user")
    j.closing_stream("end_user")


@dataclass(frozen=True)
class Scenario:
    """A journey of one session type."""

    name: str
    channel: str
    session_type: str
    build: Callable[[_Journey], None]


# Voice and chat interleaved so that a few sessions already show variety; the first 23 cover
# every session type of the contract.
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("ivr_call", "voice", "Voice Inbound (IVR)", _ivr_call),
    Scenario("web_chat", "chat", "Messaging (Web)", _web_chat),
    Scenario("abandoned_call", "voice", "Voice inbound", _abandoned_call),
    Scenario("transfer_call", "voice", "Voice inbound (Mobile)", _transfer_call),
    Scenario("va_chat", "chat", "Messaging (Mobile)", _va_chat),
    Scenario("failed_transfer_call", "voice", "Voice callback (Web)", _failed_transfer_call),
    Scenario("virtual_agent_call", "voice", "Voice inbound (API)", _virtual_agent_call),
    Scenario("abandoned_chat", "chat", "Messaging (Whatsapp)", _abandoned_chat),
    Scenario("preview_campaign_call", "voice", "Voice Campaign", _preview_campaign_call),
    Scenario("voicemail_call", "voice", "Voice inbound (IVR by Mobile)", _voicemail_call),
    Scenario("sms_chat", "chat", "Messaging inbound (SMS)", _sms_chat),
    Scenario("after_hours_call", "voice", "Voice inbound", _after_hours_call),
    Scenario("scheduled_web_call", "voice", "Voice scheduled (Web)", _scheduled_call),
    Scenario("outbound_call", "voice", "Voice outbound", _outbound_call),
    Scenario("outbound_sms_chat", "chat", "Messaging outbound (SMS)", _outbound_sms_chat),
    Scenario("failed_call", "voice", "Voice inbound", _failed_call),
    Scenario(
        "progressive_campaign_call", "voice", "Voice Campaign", _dialer_campaign_call("progressive")
    ),
    Scenario("smart_actions_call", "voice", "Voice inbound (Mobile)", _smart_actions_call),
    Scenario(
        "outbound_sms_api_chat", "chat", "Messaging outbound (SMS by API)", _outbound_sms_api_chat
    ),
    Scenario("scheduled_mobile_call", "voice", "Voice scheduled (Mobile)", _scheduled_call),
    Scenario("outbound_api_call", "voice", "Voice outbound (API)", _outbound_call),
    Scenario("recovered_call", "voice", "Voice Inbound (IVR)", _recovered_call),
    Scenario(
        "predictive_campaign_call", "voice", "Voice Campaign", _dialer_campaign_call("predictive")
    ),
)


# --- placing sessions in time ----------------------------------------------------------------


def _simulate_session(seed: int, n: int, kind: str, now: datetime) -> SimulatedSession:
    """Session ``n``: its journey depends on (seed, n) only, its place in time also on ``kind``."""
    rng = random.Random(f"sessionctl.simulate:{seed}:{n}")
    scenario = SCENARIOS[n % len(SCENARIOS)]
    session_id = f"sim-{seed}-{n:03d}"
    zone = rng.choice(OFFSETS)
    mixed = rng.random() < MIXED_OFFSETS_SHARE
    numbered = rng.random() < SEQUENCE_SHARE
    journey = _Journey(rng, session_id, scenario)
    scenario.build(journey)
    if journey.end_index is None:
        raise AssertionError(f"scenario {scenario.name} has no end")
    steps = journey.steps
    end_ms = steps[journey.end_index].at_ms
    ended_at: datetime | None
    if kind == "stuck":
        steps = steps[: journey.end_index]
        start = now - _between(rng, *STUCK_AGO)
        ended_at = None
    else:
        if kind == "recent":
            tail = timedelta(milliseconds=steps[-1].at_ms - end_ms + 1000)
            ago = _between(rng, min(tail, RECENT_AGO_MAX), RECENT_AGO_MAX)
        else:
            ago = _between(rng, *DUE_AGO)
        start = now - ago - timedelta(milliseconds=end_ms)
        ended_at = (now - ago).astimezone(zone)
    events = []
    for k, step in enumerate(steps):
        event_zone = rng.choice(OFFSETS) if mixed else zone
        events.append(_envelope(session_id, scenario.channel, k, step, start, event_zone, numbered))
    return SimulatedSession(
        session_id=session_id,
        scenario=scenario.name,
        channel=scenario.channel,
        session_type=scenario.session_type,
        ended_at=ended_at,
        events=tuple(events),
    )


def _envelope(
    session_id: str,
    channel: str,
    k: int,
    step: _Step,
    start: datetime,
    zone: timezone,
    numbered: bool,
) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "spec": SPEC_VERSION,
        "event_id": f"{session_id}-{k:03d}",  # zero-padded: id order = occurrence order
        "session_id": session_id,
        "channel": channel,
        "type": step.type,
        "occurred_at": _stamp(start + timedelta(milliseconds=step.at_ms), zone),
    }
    if numbered:
        envelope["sequence"] = k
    envelope["data"] = _resolve(step.data, start, zone)
    return envelope


def _resolve(value: Any, start: datetime, zone: timezone) -> Any:
    """A deep copy of a payload with its ``_At`` markers written as timestamps."""
    if isinstance(value, _At):
        return _stamp(start + timedelta(milliseconds=value.ms), zone)
    if isinstance(value, dict):
        return {key: _resolve(item, start, zone) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_resolve(item, start, zone) for item in value]
    return value


def _kinds(rng: random.Random, sessions: int, recent: int, stuck: int) -> list[str]:
    """Which sessions are stuck, recent or due, spread at random over the cycle of scenarios."""
    kinds = ["due"] * sessions
    picked = rng.sample(range(sessions), stuck + recent)
    for n in picked[:stuck]:
        kinds[n] = "stuck"
    for n in picked[stuck:]:
        kinds[n] = "recent"
    return kinds


# --- bad lines -------------------------------------------------------------------------------

BAD_REASONS: tuple[str, ...] = (
    "not_json",
    "missing_field",
    "unsupported_spec",
    "unknown_type",
    "status_mismatch",
    "bad_timestamp",
)
OVERSIZE_REASON = "payload_too_large"


def _bad_line(seed: int, k: int, now: datetime) -> bytes:
    """Bad line ``k``: the reasons cycle, each round uses another variant of its rule.

    Every bad line has a session of its own (``sim-<seed>-bad-<k>``): its rejection loses
    no event of a real session.
    """
    reason = BAD_REASONS[k % len(BAD_REASONS)]
    variant = k // len(BAD_REASONS)
    doc = _bad_base(seed, k, now)
    if reason == "not_json":
        options = (_encode(doc)[: 60 + variant], b"hello, this is not JSON", b"[1, 2, 3]")
        return options[variant % len(options)]
    if reason == "missing_field":
        field = ("occurred_at", "event_id", "type", "session_id", "spec")[variant % 5]
        del doc[field]
    elif reason == "unsupported_spec":
        doc["spec"] = ("session-event/v2", "session-event/v0")[variant % 2]
    elif reason == "unknown_type":
        doc["type"] = ("session.teleported", "stream.hologram", "Session.Created")[variant % 3]
    elif reason == "status_mismatch":
        status, code = (("queued", 5), ("connected", 2), ("on_fire", 99))[variant % 3]
        doc["data"] = {"status": status, "status_code": code}
    elif reason == "bad_timestamp":
        doc["occurred_at"] = (
            "11/09/2023 09:42:01",
            "2023-02-30T09:42:01.000+03:00",
            "2023-09-11T09:42:01.000",
            "yesterday",
        )[variant % 4]
    return _encode(doc)


def _bad_base(seed: int, k: int, now: datetime) -> dict[str, Any]:
    """A valid envelope of a session that exists only for this bad line."""
    session_id = f"sim-{seed}-bad-{k:02d}"
    return {
        "spec": SPEC_VERSION,
        "event_id": f"{session_id}-000",
        "session_id": session_id,
        "channel": "voice",
        "type": "session.status_changed",
        "occurred_at": _stamp(now - timedelta(minutes=30, seconds=k), UTC),
        "data": {"status": "queued", "status_code": STATUS_CODES["queued"]},
    }


def _oversize_line(seed: int, k: int, now: datetime) -> bytes:
    """Valid but for its size: a data-stream item carrying more than 1 MiB."""
    doc = _bad_base(seed, k, now)
    doc["type"] = "stream.custom_data"
    doc["data"] = {"blob": "x" * (MAX_PAYLOAD_BYTES + 1024)}
    return _encode(doc)


# --- the traffic -----------------------------------------------------------------------------


def _encode(envelope: dict[str, Any]) -> bytes:
    """Compact JSON in UTF-8 (non-ASCII text kept as is, as a platform would send it)."""
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def simulate_traffic(
    *,
    seed: int = 7,
    now: datetime,
    sessions: int = 60,
    recent_fraction: float = 0.2,
    duplicate_fraction: float = 0.05,
    bad: int = 6,
    stuck: int = 1,
    oversize: bool = False,
) -> Traffic:
    """The traffic of ``sessions`` sessions as of ``now``; same arguments, same bytes.

    ``recent_fraction`` of the sessions ended 0-5 minutes before ``now``, ``stuck`` never
    end, the others ended 20 minutes to 3 hours before. ``duplicate_fraction`` of the good
    envelopes are published twice. ``bad`` bad lines cycle through ``BAD_REASONS``;
    ``oversize`` adds one more, over 1 MiB (off by default: it is big).
    """
    _check(now, sessions, recent_fraction, duplicate_fraction, bad, stuck)
    now = _floor_ms(now)
    recent = min(round(recent_fraction * sessions), sessions - stuck)
    rng = random.Random(f"sessionctl.simulate:traffic:{seed}")
    kinds = _kinds(rng, sessions, recent, stuck)
    simulated = tuple(_simulate_session(seed, n, kinds[n], now) for n in range(sessions))
    bad_lines = [_bad_line(seed, k, now) for k in range(bad)]
    if oversize:
        bad_lines.append(_oversize_line(seed, bad, now))
    good = [_encode(event) for session in simulated for event in session.events]
    lines = good + _duplicates(rng, good, duplicate_fraction) + bad_lines
    rng.shuffle(lines)
    return Traffic(sessions=simulated, bad_lines=tuple(bad_lines), lines=tuple(lines))


def _duplicates(rng: random.Random, good: Sequence[bytes], fraction: float) -> list[bytes]:
    """Redeliveries: the same bytes again (at least one when the fraction is not zero)."""
    if not good or fraction <= 0:
        return []
    count = min(len(good), max(1, round(fraction * len(good))))
    return [good[i] for i in sorted(rng.sample(range(len(good)), count))]


def _check(
    now: datetime,
    sessions: int,
    recent_fraction: float,
    duplicate_fraction: float,
    bad: int,
    stuck: int,
) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if sessions < 0 or bad < 0 or not 0 <= stuck <= sessions:
        raise ValueError("need sessions >= 0, bad >= 0 and 0 <= stuck <= sessions")
    if not 0 <= recent_fraction <= 1 or not 0 <= duplicate_fraction <= 1:
        raise ValueError("fractions must be within 0..1")


def to_jsonl(traffic: Traffic) -> str:
    """The lines as a JSONL file (one envelope per line) for ``sessionctl publish``/``replay``.

    JSON never holds a raw newline and the bad lines are single-line ASCII, so each line of
    the file is exactly one published message.
    """
    return "".join(line.decode("utf-8") + "\n" for line in traffic.lines)
