"""Fan-out finalization on the emulators: the tick hands due sessions out, workers write.

What is checked: jobs of ``finalize_job_size`` sessions, batched onto the jobs topic;
the tick's report exists only once every job reported, and is their sum; a tick
that comes while a round is out hands nothing out again; a job never writes early;
two deliveries of one session still give one version.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from google.cloud import pubsub_v1

from shared.messages import FinalizeJob
from shared.service.finalize import finalize_job
from shared.service.tick import dispatch_due
from tests.factory import T0, handled_call
from tests.integration.adapters.test_firestore import ingest
from tests.integration.helpers import make_pipeline, pull_notices, unique

pytestmark = pytest.mark.emulators
END = T0 + timedelta(seconds=200)  # handled_call ends 200 s after T0
DUE = END + timedelta(minutes=15)


@pytest.fixture
def fan(emulators):
    run = uuid.uuid4().hex[:8]
    pipe = make_pipeline(emulators.project, finalize_jobs_topic=f"jobs-{run}", finalize_job_size=2)
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(emulators.project, pipe.settings.finalize_jobs_topic)
    publisher.create_topic(name=topic)
    subscription = subscriber.subscription_path(emulators.project, f"jobs-{run}-worker")
    subscriber.create_subscription(name=subscription, topic=topic)
    return pipe, pipe.ticks, subscription


def tick(fan, now, sleep=lambda seconds: None):
    pipe, ticks, _ = fan
    tick_id = unique("tick")
    dispatch_due(
        now,
        tick_id=tick_id,
        schedule=pipe.schedule,
        ticks=ticks,
        publisher=pipe.publisher,
        settings=pipe.settings,
        sleep=sleep,
    )
    return tick_id


def pull_jobs(fan) -> list[FinalizeJob]:
    return [FinalizeJob.model_validate_json(raw) for raw in pull_notices(fan[2])]


def work(fan, job):
    pipe, ticks, _ = fan
    return finalize_job(
        job,
        events=pipe.events,
        schedule=pipe.schedule,
        ticks=ticks,
        files=pipe.files,
        publisher=pipe.publisher,
        settings=pipe.settings,
    )


def store_sessions(pipe, count):
    scripts = [handled_call(unique("s")) for _ in range(count)]
    for script in scripts:
        ingest(pipe, script.events())
    return sorted(s.session_id for s in scripts)


def test_the_due_sessions_go_out_as_jobs_and_the_tick_reports_their_sum(fan):
    pipe, ticks, _ = fan
    ids = store_sessions(pipe, 5)
    tick_id = tick(fan, DUE)
    jobs = pull_jobs(fan)
    assert sorted(len(j.session_ids) for j in jobs) == [1, 2, 2]
    assert sorted(s for j in jobs for s in j.session_ids) == ids
    assert {j.tick_id for j in jobs} == {tick_id} and {j.now for j in jobs} == {DUE}
    for job in jobs[:-1]:
        work(fan, job)
    assert ticks.tick_record(tick_id) is None  # one job has yet to report
    work(fan, jobs[-1])
    report = ticks.tick_record(tick_id)
    assert report["written"] == 5 and sorted(report["written_ids"]) == ids
    assert (report["jobs"], report["sessions"]) == (3, 5)
    notices = [json.loads(n) for n in pull_notices(pipe.finalized_subscription)]
    assert sorted(n["session_id"] for n in notices) == ids


def test_a_tick_during_a_running_round_hands_nothing_out_again(fan):
    pipe, ticks, _ = fan
    store_sessions(pipe, 3)
    first = tick(fan, DUE)
    jobs = pull_jobs(fan)
    second = tick(fan, DUE + timedelta(minutes=1))
    assert pull_jobs(fan) == []
    assert ticks.tick_record(second)["busy_with"] == first
    for job in jobs:
        work(fan, job)
    third = tick(fan, DUE + timedelta(minutes=2))
    assert ticks.tick_record(third)["jobs"] == 0  # all written: nothing is due any more


def test_a_tick_waits_a_little_for_a_round_about_to_finish(fan):
    pipe, ticks, _ = fan
    store_sessions(pipe, 2)
    first = tick(fan, DUE)
    jobs = pull_jobs(fan)
    slept = []

    def sleep(seconds):  # the round finishes while the second tick waits
        slept.append(seconds)
        for job in jobs:
            work(fan, job)
        jobs.clear()

    second = tick(fan, DUE + timedelta(minutes=1), sleep=sleep)
    assert slept and ticks.tick_record(second)["busy_with"] is None
    assert ticks.tick_record(first)["written"] == 2


def test_a_round_whose_jobs_never_report_is_taken_over_after_its_lease(fan):
    pipe, ticks, _ = fan
    store_sessions(pipe, 1)
    tick(fan, DUE)
    pull_jobs(fan)  # the job is lost (say, dead-lettered)
    pipe.clock.advance(pipe.settings.finalize_round_lease_seconds + 1)
    tick(fan, DUE + timedelta(minutes=11))
    [job] = pull_jobs(fan)
    assert work(fan, job).written == job.session_ids


def test_a_job_never_writes_a_session_that_was_not_due_at_its_tick(fan):
    pipe, _, _ = fan
    [sid] = store_sessions(pipe, 1)
    early = FinalizeJob(tick_id="t-early", job=0, now=DUE - timedelta(seconds=1), session_ids=[sid])
    assert work(fan, early).skipped == [sid]
    assert pipe.files.read(f"metadata-{sid}.json") is None


def test_one_session_in_two_deliveries_gives_one_version(fan):
    pipe, _, _ = fan
    [sid] = store_sessions(pipe, 1)
    job = FinalizeJob(tick_id="t-twice", job=0, now=DUE, session_ids=[sid])
    reports = [work(fan, job), work(fan, job)]
    assert [r.written for r in reports] == [[sid], []]
    assert json.loads(pipe.files.read(f"metadata-{sid}.json").data)["version"] == 1
    assert len(pull_notices(pipe.finalized_subscription)) == 1
