"""The traffic simulator keeps the input contract and its own promises.

The demo, the benchmarks and other tests trust it blindly, so it is checked here against
the real parser and reducer: every good envelope parses, every bad line is rejected for
one of the contract's reasons, the output is byte-identical per seed, and the sessions
land where the arguments put them (due, recent, stuck).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from devstack.simulate import (
    BAD_REASONS,
    OVERSIZE_REASON,
    SCENARIOS,
    Traffic,
    simulate_traffic,
    to_jsonl,
)
from shared.domain.catalog import CHAT_SESSION_TYPES, VOICE_SESSION_TYPES
from shared.domain.errors import BadInput
from shared.domain.events import parse_event
from shared.domain.session import canonical_order, reduce_session

NOW = datetime(2024, 7, 5, 12, 0, 0, tzinfo=UTC)
FINALIZE_DELAY = timedelta(minutes=15)


@pytest.fixture(scope="module")
def traffic() -> Traffic:
    return simulate_traffic(now=NOW)


def _encoded(event: dict) -> bytes:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _good_lines(traffic: Traffic) -> list[bytes]:
    return [_encoded(event) for session in traffic.sessions for event in session.events]


def _reason(line: bytes) -> str:
    with pytest.raises(BadInput) as caught:
        parse_event(line)
    return caught.value.reason


def test_every_good_envelope_parses(traffic: Traffic) -> None:
    for session in traffic.sessions:
        for event in session.events:
            parsed = parse_event(_encoded(event))
            assert parsed.session_id == session.session_id
            assert parsed.channel == session.channel


def test_lines_are_the_good_envelopes_the_duplicates_and_the_bad_lines(traffic: Traffic) -> None:
    good = Counter(_good_lines(traffic))
    published = Counter(traffic.lines)
    bad = Counter(traffic.bad_lines)
    assert all(count == 1 for count in good.values())  # no event twice within a session
    assert set(published) == set(good) | set(bad)  # every good line, every bad one, nothing else
    assert all(published[line] in (1, 2) for line in good)
    assert all(published[line] == 1 for line in bad)


def test_every_bad_line_is_rejected_and_the_reasons_cover_the_list(traffic: Traffic) -> None:
    reasons = [_reason(line) for line in traffic.bad_lines]
    assert sorted(reasons) == sorted(BAD_REASONS)
    assert len(traffic.bad_lines) == 6


def test_bad_lines_cycle_through_variants_and_keep_to_their_own_sessions(traffic: Traffic) -> None:
    many = simulate_traffic(now=NOW, sessions=3, bad=20)
    assert len(set(many.bad_lines)) == 20
    assert Counter(_reason(line) for line in many.bad_lines).keys() == set(BAD_REASONS)
    real = {session.session_id for session in many.sessions}
    for line in many.bad_lines:
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(doc, dict) and "session_id" in doc:
            assert doc["session_id"] not in real


def test_oversize_is_one_more_bad_line_on_request() -> None:
    assert all(len(line) < 1 << 20 for line in simulate_traffic(now=NOW, sessions=2).lines)
    big = simulate_traffic(now=NOW, sessions=2, bad=6, oversize=True)
    assert len(big.bad_lines) == 7
    assert sorted(_reason(line) for line in big.bad_lines) == sorted(
        (*BAD_REASONS, OVERSIZE_REASON)
    )


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    first = simulate_traffic(seed=11, now=NOW, sessions=25)
    second = simulate_traffic(seed=11, now=NOW, sessions=25)
    other = simulate_traffic(seed=12, now=NOW, sessions=25)
    assert first.lines == second.lines
    assert to_jsonl(first).encode() == to_jsonl(second).encode()
    assert first.lines != other.lines
    assert set(first.lines).isdisjoint(other.lines)


def test_a_session_does_not_depend_on_how_many_others_there_are() -> None:
    """Session n's journey comes from (seed, n): a smaller run is the same sessions, fewer."""
    small = simulate_traffic(now=NOW, sessions=10, recent_fraction=0, stuck=0)
    large = simulate_traffic(now=NOW, sessions=30, recent_fraction=0, stuck=0)
    assert small.sessions == large.sessions[:10]


def test_every_session_type_and_scenario_appears(traffic: Traffic) -> None:
    types = {session.session_type for session in traffic.sessions}
    assert types == set(VOICE_SESSION_TYPES) | set(CHAT_SESSION_TYPES)
    assert len(types) == 17
    assert {session.scenario for session in traffic.sessions} == {s.name for s in SCENARIOS}
    for session in traffic.sessions:
        created = [e for e in session.events if e["type"] == "session.created"]
        assert len(created) == 1
        assert created[0]["data"]["session_type"] == session.session_type
        channel = "chat" if session.session_type in CHAT_SESSION_TYPES else "voice"
        assert session.channel == channel


def _kinds(traffic: Traffic, now: datetime) -> Counter[str]:
    kinds: Counter[str] = Counter()
    for session in traffic.sessions:
        if session.ended_at is None:
            kinds["stuck"] += 1
        elif session.ended_at + FINALIZE_DELAY <= now:
            kinds["due"] += 1
        else:
            kinds["recent"] += 1
    return kinds


@pytest.mark.parametrize(
    ("sessions", "recent_fraction", "stuck", "expected"),
    [
        (60, 0.2, 1, {"due": 47, "recent": 12, "stuck": 1}),
        (20, 0.5, 3, {"due": 7, "recent": 10, "stuck": 3}),
        (10, 0.0, 0, {"due": 10}),
    ],
)
def test_due_recent_and_stuck_counts_follow_the_arguments(
    sessions: int, recent_fraction: float, stuck: int, expected: dict[str, int]
) -> None:
    traffic = simulate_traffic(
        now=NOW, sessions=sessions, recent_fraction=recent_fraction, stuck=stuck
    )
    assert _kinds(traffic, NOW) == Counter(expected)


def test_times_sit_in_their_windows(traffic: Traffic) -> None:
    for session in traffic.sessions:
        parsed = [parse_event(_encoded(event)) for event in session.events]
        assert all(event.occurred_at <= NOW for event in parsed)
        ends = [event for event in parsed if event.type == "session.ended"]
        if session.ended_at is None:
            assert ends == []
            assert min(event.occurred_at for event in parsed) < NOW - timedelta(hours=25)
            continue
        assert [event.occurred_at for event in ends] == [session.ended_at]
        ago = NOW - session.ended_at
        due = timedelta(minutes=20) <= ago <= timedelta(hours=3)
        recent = timedelta(0) <= ago <= timedelta(minutes=5)
        assert due or recent, (session.session_id, ago)


def test_timestamps_have_milliseconds_and_varied_offsets(traffic: Traffic) -> None:
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}([+-]\d\d:\d\d)$")
    offsets = Counter()
    for session in traffic.sessions:
        for event in session.events:
            match = stamp.match(event["occurred_at"])
            assert match, event["occurred_at"]
            offsets[match.group(1)] += 1
    assert set(offsets) == {"+00:00", "+03:00", "-07:00"}


def test_ids_sequences_and_order(traffic: Traffic) -> None:
    session_id = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
    event_ids = [e["event_id"] for s in traffic.sessions for e in s.events]
    assert len(event_ids) == len(set(event_ids))
    numbered = 0
    for session in traffic.sessions:
        assert session_id.match(session.session_id)
        sequences = [event.get("sequence") for event in session.events]
        if sequences[0] is not None:
            numbered += 1
            assert sequences == list(range(len(sequences)))
        else:
            assert set(sequences) == {None}
        # The contract's canonical order (sequence, else time then id) is the occurrence order.
        parsed = [parse_event(_encoded(event)) for event in session.events]
        assert [e.event_id for e in canonical_order(reversed(parsed))] == [
            e["event_id"] for e in session.events
        ]
        times = [event.occurred_at for event in parsed]
        assert times == sorted(times) and len(set(times)) == len(times)
    assert 0.3 <= numbered / len(traffic.sessions) <= 0.7


def test_duplicates_are_present(traffic: Traffic) -> None:
    good = _good_lines(traffic)
    twice = [line for line, count in Counter(traffic.lines).items() if count == 2]
    assert len(twice) == round(0.05 * len(good))
    assert max(Counter(traffic.lines).values()) == 2
    none = simulate_traffic(now=NOW, sessions=5, duplicate_fraction=0, bad=0)
    assert len(set(none.lines)) == len(none.lines)


def test_lines_are_shuffled_across_and_within_sessions(traffic: Traffic) -> None:
    position = {line: n for n, line in reversed(list(enumerate(traffic.lines)))}
    in_order = 0
    for session in traffic.sessions:
        places = [position[_encoded(event)] for event in session.events]
        in_order += places == sorted(places)
    assert in_order <= len(traffic.sessions) // 10
    first_sessions = {
        json.loads(line).get("session_id") for line in traffic.lines[:20] if line.startswith(b"{")
    }
    assert len(first_sessions) > 5


def test_typical_session_has_12_to_25_events(traffic: Traffic) -> None:
    counts = [len(session.events) for session in traffic.sessions if session.ended_at]
    average = sum(counts) / len(counts)
    print(f"average events per ended session: {average:.1f} (min {min(counts)}, max {max(counts)})")
    assert 12 <= average <= 25
    streams = [
        sum(e["type"].startswith("stream.") for e in session.events) for session in traffic.sessions
    ]
    assert min(streams) >= 1


def test_journeys_carry_what_their_scenario_promises(traffic: Traffic) -> None:
    first = {}
    for session in traffic.sessions:
        if session.ended_at is not None:
            first.setdefault(session.scenario, session)
    state = {name: reduce_session(s.session_id, map(_parse, s.events)) for name, s in first.items()}

    ivr = state["ivr_call"]
    assert [s for s, _ in ivr.status_history] == [
        "selecting",
        "queued",
        "assigned",
        "connecting",
        "connected",
    ]
    assert len(ivr.holds) == 2 and ivr.disposition is not None and ivr.wrap_up_ended_at
    assert ivr.recording_url and ivr.recording_url.startswith("https://")

    abandoned = state["abandoned_call"]
    assert "assigned" not in abandoned.status_first_at
    assert abandoned.ended is not None and abandoned.ended.disconnected_by == "end_user"

    transfer = state["transfer_call"]
    assert [t.status for t in transfer.transfers.values()] == ["completed"]
    ids = [p.id for p in transfer.participants]
    assert any(ids.count(i) == 2 for i in ids)  # a rejoin
    assert len({h.interaction for h in transfer.holds}) == 2  # a hold after the transfer

    assert [t.status for t in state["failed_transfer_call"].transfers.values()] == ["failed"]

    va = state["virtual_agent_call"]
    assert {"va_assigned", "va_connected"} <= va.status_first_at.keys()
    assert va.ended is not None and va.ended.disconnected_by == "virtual_agent"

    senders = {m.sender for s in ("web_chat", "va_chat") for m, _ in state[s].messages}
    assert senders == {"end_user", "agent", "virtual_agent"}
    assert any(m.text is None for s in state.values() for m, _ in s.messages)

    preview = state["preview_campaign_call"]
    assert preview.created is not None and preview.created.campaign.mode == "preview"
    assert {"preview_pending", "preview_ready", "campaign_connecting", "campaign_connected"} <= (
        preview.status_first_at.keys()
    )
    for mode in ("progressive", "predictive"):
        dialer = state[f"{mode}_campaign_call"]
        assert dialer.created.campaign.mode == mode and f"{mode}_waiting" in dialer.status_first_at

    voicemail = state["voicemail_call"]
    assert voicemail.deflections[0][0].deflection == "voicemail"
    assert "voicemail" in voicemail.status_first_at
    assert voicemail.ended.final_status == "voicemail_received"

    assert state["after_hours_call"].ended.final_status == "deflected"

    for name in ("scheduled_web_call", "scheduled_mobile_call"):
        scheduled = state[name]
        assert scheduled.created.scheduled_at and "scheduled" in scheduled.status_first_at

    for name in ("outbound_call", "outbound_api_call"):
        outbound = state[name].created
        assert outbound.outbound_number and outbound.support_number is None

    failed = state["failed_call"].ended
    assert failed.final_status == "failed" and failed.fail_reason and failed.fail_details

    smart = state["smart_actions_call"]
    assert smart.verified and smart.smart_actions["photos"] == "uploaded"
    assert smart.sms["in_call"] >= 1 and smart.sms["wait_time"] >= 1
    assert smart.recording_permission == "granted" and 1 <= smart.csat.rating <= 4


def test_stream_items_come_from_seed_001(traffic: Traffic) -> None:
    events = [e for s in traffic.sessions for e in s.events]
    names = {e["type"] for e in events if e["type"].startswith("stream.")}
    assert {
        "stream.call_started",
        "stream.chat_started",
        "stream.custom_data",
        "stream.realtime_transcript",
        "stream.call_recording",
        "stream.sentiment_score",
        "stream.disposition",
    } <= names
    junk = [e for e in events if e["type"] == "stream.custom_data"]
    assert any("Invalid DateTime" in e["data"].values() for e in junk)


def test_jsonl_has_one_line_per_published_message(traffic: Traffic) -> None:
    text = to_jsonl(traffic)
    assert text.endswith("\n")
    # Split on "\n" only: JSON escapes it, but other line breaks may sit raw in UTF-8 text.
    assert [line.encode("utf-8") for line in text.split("\n")[:-1]] == list(traffic.lines)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        simulate_traffic(now=datetime(2024, 7, 5, 12, 0))


def _parse(event: dict):
    return parse_event(_encoded(event))
