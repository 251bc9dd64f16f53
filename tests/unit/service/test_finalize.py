"""The finalize use case on in-memory fakes: never early, once per version, repaired after a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.config import Settings
from shared.domain.files import datastream_name, metadata_name
from shared.ports import PubsubMessage
from shared.service.finalize import FinalizeReport, finalize_due
from shared.service.ingest import ingest_message
from shared.service.tick import run_tick
from tests.factory import T0, SessionScript, handled_call, raw
from tests.fakes import (
    FakeEvents,
    FakeFiles,
    FakePublisher,
    FakeQuarantine,
    FakeSchedule,
    FakeTicks,
)

END = T0 + timedelta(seconds=200)  # handled_call ends 200 s after T0
DUE = END + timedelta(minutes=15)
SETTINGS = Settings()


class Wall:
    """The wall clock that claim leases are measured against; tests move it by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Ports:
    def __init__(self, settings: Settings = SETTINGS) -> None:
        self.settings = settings
        self.wall = Wall()
        self.events = FakeEvents()
        self.schedule = FakeSchedule(wall_clock=self.wall)
        self.files = FakeFiles()
        self.publisher = FakePublisher()
        self.tickets: dict[str, tuple[str | None, str | None]] = {}
        self._sent = 0

    def ingest(self, script: SessionScript, docs: list[dict] | None = None) -> None:
        for doc in script.docs if docs is None else docs:
            self._sent += 1
            ingest_message(
                PubsubMessage(raw(doc), f"m{self._sent}"),
                events=self.events,
                schedule=self.schedule,
                quarantine=FakeQuarantine(),
                settings=self.settings,
            )

    def tick(self, now: datetime) -> FinalizeReport:
        return finalize_due(
            now,
            events=self.events,
            schedule=self.schedule,
            files=self.files,
            publisher=self.publisher,
            settings=self.settings,
            ticket_of=lambda sid: self.tickets.get(sid, (None, None)),
        )

    def metadata(self, session_id: str) -> dict | None:
        return self.files.json(metadata_name(self.settings.object_prefix, session_id))

    def notices(self) -> list[dict]:
        return self.publisher.on(self.settings.finalized_topic)


@pytest.fixture
def ports() -> Ports:
    return Ports()


def test_the_files_are_written_fifteen_minutes_after_the_end_and_not_before(ports):
    script = handled_call("s1")
    ports.ingest(script)
    assert ports.tick(DUE - timedelta(seconds=1)) == FinalizeReport()
    assert ports.files.objects == {}
    assert ports.tick(DUE).written == ["s1"]
    doc = ports.metadata("s1")
    assert doc["version"] == 1 and doc["event_count"] == len(script.docs)
    assert ports.files.json(datastream_name("", "s1"))["events"]
    assert ports.tick(DUE + timedelta(minutes=1)) == FinalizeReport()


def test_each_written_version_is_announced_once_with_its_file(ports):
    ports.ingest(handled_call("s1"))
    ports.tick(DUE)
    ports.tick(DUE + timedelta(minutes=5))
    [notice] = ports.notices()
    assert notice == {
        "session_id": "s1",
        "version": 1,
        "bucket": ports.files.bucket_name,
        "metadata_object": "metadata-s1.json",
        "datastream_object": "datastream-s1.json",
        "metadata": ports.metadata("s1"),
    }
    [message] = ports.publisher.messages
    assert message.attributes == {"session_id": "s1", "version": "1"}


def test_the_object_prefix_names_the_files_folder():
    ports = Ports(Settings(object_prefix="sessions"))
    ports.ingest(handled_call("s1"))
    ports.tick(DUE)
    assert set(ports.files.objects) == {"sessions/metadata-s1.json", "sessions/datastream-s1.json"}


def test_a_late_event_rewrites_the_file_as_the_next_version(ports):
    script = handled_call("s1")
    ports.ingest(script)
    ports.tick(DUE)
    script.at(2000).add("session.csat", {"rating": 4, "comment": "Great"})
    ports.ingest(script, script.docs[-1:])
    late_due = script.last_at + SETTINGS.finalize_delay
    assert ports.tick(late_due - timedelta(seconds=1)).written == []
    assert ports.tick(late_due).written == ["s1"]
    assert ports.metadata("s1")["version"] == 2
    assert [n["version"] for n in ports.notices()] == [1, 2]


def test_a_redelivered_event_after_the_write_leaves_the_file_unchanged(ports):
    script = handled_call("s1")
    ports.ingest(script)
    ports.tick(DUE)
    generation = ports.files.read("metadata-s1.json").generation
    ports.ingest(script, script.docs[3:4])  # at-least-once: the same event again
    report = ports.tick(DUE + timedelta(hours=1))
    assert report.unchanged == ["s1"] and report.written == []
    assert ports.files.read("metadata-s1.json").generation == generation
    assert len(ports.notices()) == 1
    assert ports.tick(DUE + timedelta(hours=2)) == FinalizeReport()


def test_a_session_without_an_end_is_deferred_to_its_exact_stuck_time_then_written(ports):
    script = SessionScript("s1")
    script.at(0).add("session.created", {"session_type": "Chat"})
    script.at(30).add("session.status_changed", {"status": "queued", "status_code": 1})
    ports.ingest(script, script.docs[::-1])  # the earliest event comes last
    exact = T0 + SETTINGS.stuck_timeout
    provisional = ports.schedule.schedule("s1").due_at
    assert provisional < exact
    assert ports.tick(provisional).deferred == ["s1"]
    assert ports.tick(exact - timedelta(seconds=1)) == FinalizeReport()
    assert ports.tick(exact).written == ["s1"]


def test_a_session_held_by_another_finalizer_is_skipped_until_its_lease_ends(ports):
    ports.ingest(handled_call("s1"))
    assert ports.schedule.claim("s1", DUE, SETTINGS.claim_lease) is not None
    assert ports.tick(DUE).skipped == ["s1"]
    ports.wall.now += SETTINGS.claim_lease + timedelta(seconds=1)
    assert ports.tick(DUE).written == ["s1"]


def test_a_crash_between_the_write_and_the_mark_is_repaired_in_place_by_the_next_tick(ports):
    ports.ingest(handled_call("s1"))
    ports.schedule.fail_next("complete", ConnectionError("the finalizer died"))
    assert ports.tick(DUE).failed == ["s1"]  # the file is written, the write is not recorded
    assert ports.metadata("s1")["version"] == 1
    assert ports.tick(DUE + timedelta(minutes=2)).written == ["s1"]
    assert ports.metadata("s1")["version"] == 1  # repaired, not a second version
    assert ports.schedule.schedule("s1").version == 1
    assert [n["version"] for n in ports.notices()] == [1, 1]


def test_a_crash_before_the_mark_then_late_events_give_the_next_version_not_a_second_one(ports):
    """Version 1 was written and announced, the mark failed, then an event came: the next
    tick must not replace version 1 with other content (downstream keeps one content per
    version and would never see the change); it writes version 2."""
    script = handled_call("s1")
    ports.ingest(script)
    ports.schedule.fail_next("complete", ConnectionError("the finalizer died"))
    assert ports.tick(DUE).failed == ["s1"]
    first = ports.metadata("s1")
    script.at(2000).add("session.csat", {"rating": 4, "comment": "Great"})
    ports.ingest(script, script.docs[-1:])
    late_due = script.last_at + SETTINGS.finalize_delay
    assert ports.tick(late_due).written == ["s1"]
    assert ports.metadata("s1")["version"] == 2
    assert (first["rating"], ports.metadata("s1")["rating"]) == (None, 4)
    # Version 1 is announced again with the content it holds (the first finalizer may
    # have died before announcing it), then version 2.
    assert [n["version"] for n in ports.notices()] == [1, 1, 2]
    assert ports.notices()[1]["metadata"] == ports.notices()[0]["metadata"] == first
    assert ports.schedule.schedule("s1").version == 2
    assert ports.tick(late_due + timedelta(minutes=1)).written == []


def test_a_session_that_cannot_be_written_backs_off_and_does_not_stop_the_others(ports):
    ports.ingest(handled_call("s1"))
    ports.ingest(handled_call("s2"))
    ports.files.fail_next("write", ConnectionError("storage unavailable"))
    report = ports.tick(DUE)
    assert report.failed == ["s1"] and report.written == ["s2"]
    assert ports.tick(DUE + timedelta(minutes=1)).written == []
    assert ports.tick(DUE + timedelta(minutes=2)).written == ["s1"]


def test_a_claim_that_keeps_aborting_fails_its_session_not_the_tick(ports):
    """Contended claims abort (a lock held by a racing or killed finalizer): the tick goes on,
    since a failed tick is redelivered and adds one more contender for the same lock."""
    ports.ingest(handled_call("s1"))
    ports.ingest(handled_call("s2"))
    ports.schedule.fail_next("claim", ValueError("Failed to commit transaction in 5 attempts."))
    report = ports.tick(DUE)
    assert report.failed == ["s1"] and report.written == ["s2"]
    assert ports.tick(DUE).written == ["s1"]  # still due, and taken by the next tick


def test_a_finalizer_stalled_past_its_lease_writes_no_data_stream_and_announces_nothing(ports):
    """Its metadata write landed, but another finalizer took the session over meanwhile:
    only the holder writes the data stream and sends the notice."""
    ports.ingest(handled_call("s1"))
    write = ports.files.write
    stalled: list[str] = []

    def stalling_write(name: str, data: bytes, *, if_generation_match: int | None) -> int:
        generation = write(name, data, if_generation_match=if_generation_match)
        if name.startswith("metadata-") and not stalled:
            stalled.append(name)
            ports.wall.now += SETTINGS.claim_lease + timedelta(seconds=1)
            assert ports.tick(DUE).written == ["s1"]  # the other finalizer takes over
        return generation

    ports.files.write = stalling_write
    assert ports.tick(DUE).skipped == ["s1"]
    assert [n["version"] for n in ports.notices()] == [1]  # one notice, the holder's
    assert ports.metadata("s1")["version"] == 1
    assert ports.schedule.schedule("s1").version == 1


def test_a_stale_write_with_other_content_is_announced_before_the_next_version(ports):
    """A finalizer stalled past its lease wrote version 1 first; late events came, and the
    holder, finding version 1 unlike what it renders, writes version 2. Version 1 is in
    the bucket, so it is announced too, with its own content: no version is skipped
    downstream, and none stands for two contents."""
    script = handled_call("s1")
    ports.ingest(script)
    write = ports.files.write
    stalled: list[str] = []

    def stalling_write(name: str, data: bytes, *, if_generation_match: int | None) -> int:
        generation = write(name, data, if_generation_match=if_generation_match)
        if name.startswith("metadata-") and not stalled:
            stalled.append(name)
            script.at(2000).add("session.csat", {"rating": 4, "comment": "Great"})
            ports.ingest(script, script.docs[-1:])
            ports.wall.now += SETTINGS.claim_lease + timedelta(seconds=1)
            late_due = script.last_at + SETTINGS.finalize_delay
            assert ports.tick(late_due).written == ["s1"]  # the holder
        return generation

    ports.files.write = stalling_write
    assert ports.tick(DUE).skipped == ["s1"]  # the stalled finalizer announces nothing
    notices = ports.notices()
    assert [n["version"] for n in notices] == [1, 2]
    assert [n["metadata"]["rating"] for n in notices] == [None, 4]
    assert ports.metadata("s1") == notices[1]["metadata"]
    assert ports.schedule.schedule("s1").version == 2


def test_the_file_carries_the_crm_record_once_it_is_known(ports):
    ports.tickets["s1"] = ("T-9", "https://crm.example/T-9")
    ports.ingest(handled_call("s1"))
    ports.tick(DUE)
    doc = ports.metadata("s1")
    assert (doc["out_ticket_id"], doc["out_ticket_url"]) == ("T-9", "https://crm.example/T-9")


def test_a_batch_takes_the_oldest_due_sessions_first():
    ports = Ports(Settings(finalize_batch_size=2))
    for n in range(3):
        ports.ingest(handled_call(f"s{n}", start=T0 + timedelta(minutes=n)))
    assert ports.tick(DUE + timedelta(hours=1)).written == ["s0", "s1"]
    assert ports.tick(DUE + timedelta(hours=1)).written == ["s2"]


def test_a_tick_records_what_it_did_under_its_message_id(ports):
    ports.ingest(handled_call("s1"))
    ticks = FakeTicks()
    settings = Settings(allow_tick_now=True)
    report = run_tick(
        PubsubMessage(f'{{"now": "{DUE.isoformat()}"}}'.encode(), "tick-1"),
        events=ports.events,
        schedule=ports.schedule,
        files=ports.files,
        publisher=ports.publisher,
        ticks=ticks,
        settings=settings,
    )
    assert report.written == ["s1"]
    record = ticks.tick_record("tick-1")
    assert record["now"] == DUE
    assert (record["written"], record["written_ids"], record["failed"]) == (1, ["s1"], 0)
