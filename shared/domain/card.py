"""The session card (seed 003): how an operator sees one session, live or ended.

A card is a view of the same ``SessionState`` the metadata file is built from,
so it needs no store of its own: ``build_card`` is pure (the clock and the
tenant's time zone come in) and works for a session still running.

Seed 003 leaves some cases open; the choices made here:

- Colour. ``blue`` while the session has not ended, even if a code is already
  set. ``gray`` once it has ended and a wrap-up (disposition) code is set, even
  one set after a customer hang-up: the code is the agent's closing act, so the
  session is then done, not abandoned. ``white`` when the customer ended it
  (``disconnected_by: end_user``) and no code is set. A session ended by the
  agent, a virtual agent, the system or nobody known, with no code, is ``gray``:
  it is over and the customer did not walk away; its status (``ended by agent``)
  shows that no code replaced it.
- Status. The code replaces the status as soon as it is set. Otherwise, while
  active: ``waiting`` in a queue, else the platform's status name; once ended:
  ``ended by customer`` / ``ended by agent`` / ..., with the final status when it
  is not ``finished`` (``ended by system (deflected)``).
- Journey. One step per change into a queue (``routed``), into a conversation
  (``connected`` to an agent or a virtual agent), and the end: ``abandoned by
  customer`` when the customer ended it (seed 003: the customer ends it before
  the agent does), ``ended by agent`` / ``virtual agent`` / ``system`` otherwise.
  A status repeated back to back is one step.
- Duration. From ``session.created`` (else the first event) to the end, or to
  ``now`` while active. A session that never gets its end event stays ``blue``
  here: the stuck-session timeout belongs to the finalizer, not to this view.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Literal

from pydantic import BaseModel

from shared.domain.catalog import HUMAN_CONNECTED, VIRTUAL_CONNECTED
from shared.domain.metadata import seconds
from shared.domain.session import SessionState

Colour = Literal["blue", "white", "gray"]

MEANINGS: dict[str, str] = {
    "blue": "active: the session is in progress",
    "white": "abandoned: the customer ended the session before a wrap-up code was assigned",
    "gray": "inactive: the session ended and a wrap-up code was assigned",
    "gray_no_code": "inactive: the session ended; no wrap-up code was assigned",
}
WAITING = frozenset({"queued", "requeued"})
ENDED_BY = {
    "end_user": "customer",
    "agent": "agent",
    "virtual_agent": "virtual agent",
    "system": "system",
}


class JourneyStep(BaseModel):
    step: Literal["routed", "connected", "ended"]
    label: str
    at: datetime  # in the tenant's zone


class SessionCard(BaseModel):
    """What an operator's card shows for one session."""

    session_id: str
    colour: Colour
    meaning: str
    title: str
    icon: Literal["call", "chat"]
    duration_seconds: int | None
    queue: str | None
    agent: str | None
    status: str  # the wrap-up code once set, else the status
    wrap_up_code: str | None
    journey: list[JourneyStep]
    fields_left_out: list[str] = []  # "event-id data.from.agent: expected an object or a bare id"


def build_card(state: SessionState, *, now: datetime, zone: tzinfo) -> SessionCard:
    """The card of a session as it stands at ``now``."""
    code = state.disposition.code if state.disposition else None
    colour = _colour(state, code)
    meaning = MEANINGS["gray_no_code" if colour == "gray" and code is None else colour]
    session_type = state.created.session_type if state.created else None
    icon: Literal["call", "chat"] = "chat" if state.is_chat else "call"
    start = state.created_at or state.first_event_at
    return SessionCard(
        session_id=state.session_id,
        colour=colour,
        meaning=meaning,
        title=f"{session_type or icon.capitalize()} {state.session_id}",
        icon=icon,
        duration_seconds=seconds(start, state.ended_at if state.is_ended else now),
        queue=state.queue.name if state.queue else None,
        agent=state.agent.name if state.agent else None,
        status=code or _status(state),
        wrap_up_code=code,
        journey=_journey(state, zone),
        fields_left_out=[f"{item.event_id} {item.issue}" for item in state.left_out],
    )


def render_card(card: SessionCard) -> str:
    """A few plain-text lines for a terminal."""
    lines = [
        f"[{card.colour}] {card.icon}  {card.title}  {_clock(card.duration_seconds)}",
        f"  {card.meaning}",
        f"  queue: {card.queue or '-'}   agent: {card.agent or '-'}   status: {card.status}",
    ]
    lines += [f"  {step.at:%H:%M:%S}  {step.label}" for step in card.journey]
    if card.fields_left_out:
        lines.append(f"  fields left out (unexpected shape): {len(card.fields_left_out)}")
        lines += [f"    {item}" for item in card.fields_left_out]
    return "\n".join(lines)


def _colour(state: SessionState, code: str | None) -> Colour:
    if not state.is_ended:
        return "blue"
    if code is None and state.ended is not None and state.ended.disconnected_by == "end_user":
        return "white"
    return "gray"


def _status(state: SessionState) -> str:
    if state.ended is None:
        if state.status in WAITING:
            return "waiting"
        return state.status or "created"
    who = ENDED_BY.get(state.ended.disconnected_by or "")
    text = f"ended by {who}" if who else "ended"
    final = state.ended.final_status
    return text if final in (None, "finished") else f"{text} ({final})"


def _journey(state: SessionState, zone: tzinfo) -> list[JourneyStep]:
    steps: list[JourneyStep] = []

    def add(step: Literal["routed", "connected", "ended"], label: str, at: datetime) -> None:
        steps.append(JourneyStep(step=step, label=label, at=at.astimezone(zone)))

    previous: str | None = None
    for status, at in state.status_history:
        if status != previous:
            if status in WAITING:
                add("routed", "waiting in queue", at)
            elif status in HUMAN_CONNECTED:
                add("connected", "connected to agent", at)
            elif status in VIRTUAL_CONNECTED:
                add("connected", "connected to virtual agent", at)
        previous = status
    if state.ended is not None and state.ended_at is not None:
        who = state.ended.disconnected_by
        if who == "end_user":
            add("ended", "abandoned by customer", state.ended_at)
        else:
            add(
                "ended", f"ended by {ENDED_BY[who]}" if who in ENDED_BY else "ended", state.ended_at
            )
    return steps


def _clock(total: int | None) -> str:
    """``04:05``, or ``1:02:03`` past the hour."""
    if total is None:
        return "--:--"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
