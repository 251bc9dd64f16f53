"""Benchmark: a 200-event burst into one session through the deployed path (push -> ingest).

Prints how long the stack took to absorb it and checks the ingest function's log has no
failure (an aborted transaction or exhausted retries would show as a traceback and a 500).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sessionctl.feed import publish_lines
from sessionctl.probe import local_probe
from shared import bootstrap
from tests.e2e.conftest import using, wait_for
from tests.factory import SessionScript, raw
from tests.integration.helpers import unique

pytestmark = [pytest.mark.benchmark, pytest.mark.e2e]


def test_a_burst_of_200_events_through_pubsub_push(e2e_stack):
    s = SessionScript(session_id=unique("burst"))
    s.at(0).add("session.created", {"session_type": "Voice inbound"})
    for n in range(198):
        s.at(0.5 + n * 0.01).add(
            "stream.realtime_transcript", {"lines": [{"speaker": "end_user", "text": f"w{n}"}]}
        )
    s.at(2.5).add("session.ended", {"final_status": "finished", "disconnected_by": "end_user"})
    log = Path(e2e_stack.log_dir) / "ingest.log"
    before = log.read_text(errors="replace") if log.exists() else ""
    with using(e2e_stack):
        started = time.perf_counter()
        publish_lines(e2e_stack, [raw(d) for d in s.docs[::-1]])
        published = time.perf_counter() - started
        wait_for(
            "200 events stored",
            lambda: len(bootstrap.events().load_events(s.session_id)) == 200,
            timeout=120,
        )
        absorbed = time.perf_counter() - started
        schedule = local_probe().schedule(s.session_id)
    new_log = (log.read_text(errors="replace") if log.exists() else "")[len(before) :]
    failures = new_log.count("Traceback") + new_log.count("Aborted")
    print(
        f"\nburst through push: 200 events published in {published:.2f} s, all stored after "
        f"{absorbed:.2f} s; failures in the ingest log: {failures}"
    )
    assert failures == 0
    assert schedule.end_at is not None
