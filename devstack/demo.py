"""``sessionctl demo``: the whole path on the local emulators, with simulated traffic.

Up -> publish the traffic through Pub/Sub -> wait until the ingest function has
stored it -> tick -> wait until every due session has its file and its CRM post
-> copy the files out -> summary -> down.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx

from devstack.local_stack import Stack, start_stack, stop_stack
from devstack.simulate import simulate_traffic
from sessionctl.commands.common import progress
from sessionctl.feed import publish_and_track, publish_tick, wait_ingested, wait_tick
from sessionctl.replay import replay
from sessionctl.report.build import build_report, live_cards, read_folder
from shared.config import Settings, load_settings
from shared.crm import rules
from shared.domain.events import parse_event
from shared.domain.session import reduce_session

WAIT_SECONDS = 90
# The demo's CRM: the look-alike Zendesk, with the seed-004 options a contact center often sets.
DEMO_CRM = {
    "CRM__KIND": "zendesk",
    "CRM__PLATFORM_TAG": "true",
    "CRM__SESSION_TYPE_TAGS": "true",
    "CRM__ABANDONED_CALL_RECORDS": "true",
    "CRM__ABANDONED_CHAT_RECORDS": "min_messages",
    "CRM__ABANDONED_CHAT_MIN_MESSAGES": "1",
    "CRM__DEFAULT_ADMIN_USER": "9001",
    "CRM__TITLE_TEMPLATE": "CALL_TYPE CALL_ID - MENU_PATH",
}
TRIGGERS = ("assigned", "connected", "end_user_message", "ended")


def run_demo(*, state_dir: Path, out_dir: Path, seed: int, sessions: int) -> int:
    started = time.monotonic()
    print("Starting the local stack (emulators, functions, CRM sink)...")
    stack = start_stack(state_dir, extra_env=DEMO_CRM)
    try:
        index = _run(stack, out_dir=out_dir, seed=seed, sessions=sessions, started=started)
    finally:
        stop_stack(state_dir)
        print(f"Local stack stopped. Wall time {time.monotonic() - started:.1f} s.")
    print(f"Report (open it in a browser): {index.resolve()}")
    return 0


def _run(stack: Stack, *, out_dir: Path, seed: int, sessions: int, started: float) -> Path:
    import os

    os.environ.update(stack.env())
    from sessionctl.probe import local_probe
    from shared import bootstrap

    ready = time.monotonic()
    print(f"Stack ready in {ready - started:.1f} s.")
    traffic = simulate_traffic(seed=seed, now=datetime.now(UTC), sessions=sessions)
    events = [parse_event(json.dumps(e).encode()) for s in traffic.sessions for e in s.events]
    with progress("publishing") as update:
        published = publish_and_track(stack, traffic.lines, progress=update)
    print(f"Published {published.count} messages ({len(traffic.bad_lines)} bad ones among them).")
    with progress("waiting for ingest") as update:
        stored, kept = wait_ingested(
            local_probe(), published, timeout=WAIT_SECONDS, progress=update
        )
    print(f"  ok: {stored} distinct events stored, {kept} bad messages kept")

    db = bootstrap.firestore_client()
    now = datetime.now(UTC)
    tick = wait_tick(local_probe(), publish_tick(stack), timeout=WAIT_SECONDS)
    print(f"  ok: the finalizer wrote {tick.get('written', 0)} sessions")
    due = {f.session_id: f for f in replay(events, now=now, settings=load_settings())}
    files = bootstrap.files()
    wanted = {f"metadata-{sid}.json" for sid in due}
    _wait(f"{len(due)} metadata files", lambda: len(wanted & set(files.names())), len(wanted))
    _wait(f"{len(due)} CRM posts", lambda: len(_posted_keys(stack)), len(due))
    settings = load_settings()
    states = {sid: reduce_session(sid, [e for e in events if e.session_id == sid]) for sid in due}
    with_record = {
        sid
        for sid, state in states.items()
        if any(rules.should_create(state, t, settings.crm) for t in TRIGGERS)
    }
    records = bootstrap.crm_records()
    _wait(
        f"{len(with_record)} CRM records with their file attached",
        lambda: sum(
            1
            for sid in with_record
            if (record := records.get(sid)) is not None and record.attached_version >= 1
        ),
        len(with_record),
    )

    written = _copy_files(files, out_dir)
    _summary(stack, traffic, due, written, out_dir, db)
    _crm_summary(stack, states, with_record, settings)
    print(f"Demo traffic to files and CRM posts took {time.monotonic() - ready:.1f} s.")
    return _report(out_dir, events, now=datetime.now(UTC), settings=settings)


def _report(out_dir: Path, events, *, now: datetime, settings: Settings) -> Path:
    """The HTML report of the files in ``out_dir``, with a card for every simulated session."""
    live = live_cards(events, now=now, zone=settings.zone)
    index, report = build_report(
        read_folder(out_dir),
        out_dir / "report",
        finalize_delay=settings.finalize_delay,
        source=f"the demo's files in {out_dir}",
        live=live,
    )
    with_file = sum(1 for view in report.sessions if view.has_file)
    print(
        f"Report: {len(report.sessions)} sessions ({with_file} with files, "
        f"{len(report.sessions) - with_file} not written yet)"
    )
    return index


def _wait(what: str, count: Callable[[], int], total: int) -> None:
    """Wait until ``count()`` reaches ``total`` (a progress bar when a person watches)."""
    deadline = time.monotonic() + WAIT_SECONDS
    with progress(f"waiting for {what}") as update:
        while (done := count()) < total:
            update(done, total)
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"gave up waiting for {what} after {WAIT_SECONDS} s ({done}/{total})"
                )
            time.sleep(0.5)
    print(f"  ok: {what}")


def _posted_keys(stack: Stack) -> set[str]:
    records = httpx.get(f"{stack.crm_sink_url}/records", timeout=10).json()
    return {
        r["headers"].get("Idempotency-Key") or r["headers"].get("idempotency-key")
        for r in records
        if r.get("path", "").startswith("/webhook")
    }


def _copy_files(files, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in files.names():
        stored = files.read(name)
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(stored.data)
        written.append(path)
    return written


def _summary(stack, traffic, due, written, out_dir: Path, db) -> None:
    by_type_status: Counter[tuple[str, str]] = Counter()
    for path in written:
        if path.name.startswith("metadata-"):
            doc = json.loads(path.read_bytes())
            by_type_status[(doc["call_type"] or doc["chat_type"], doc["status"])] += 1
    waiting = len(traffic.sessions) - len(due)
    reasons = Counter(s.to_dict()["reason"] for s in db.collection("quarantine").stream())
    print()
    print(f"Sessions simulated: {len(traffic.sessions)}")
    print(f"Finalized (due): {len(due)}; waiting for their 15 minutes: {waiting}")
    print("Finalized sessions by type and status:")
    for (kind, status), count in sorted(by_type_status.items()):
        print(f"  {kind:<34} {status:<20} {count}")
    print(f"Files written: {len(written)} in {out_dir}/ (metadata-*.json, datastream-*.json)")
    print(f"CRM posts (webhook, distinct idempotency keys): {len(_posted_keys(stack))}")
    print(f"Bad events kept in quarantine: {sum(reasons.values())} {dict(sorted(reasons.items()))}")
    print("  (list them on a running stack with: sessionctl quarantine list)")


def _crm_summary(stack: Stack, states, with_record, settings) -> None:
    tickets = httpx.get(f"{stack.fake_crm_url}/_admin/records?crm=zendesk", timeout=10).json()
    tickets = list(tickets["zendesk"]["tickets"].values())
    why: Counter[str] = Counter()
    for sid in with_record:
        state = states[sid]
        if rules.is_abandoned(state):
            why["abandoned (abandoned_*_records on)"] += 1
        elif rules.assignee(state, settings.crm).is_admin:
            why["no agent known: default admin user"] += 1
        else:
            why["assigned to an agent (default rule)"] += 1
    print(f"CRM records in the look-alike Zendesk: {len(tickets)} (all sessions, due or not)")
    print(f"  finalized sessions with a record and their file attached: {len(with_record)}")
    for reason, count in sorted(why.items()):
        print(f"    {reason:<40} {count}")
    print(
        f"  finalized sessions the rules leave without a record: {len(states) - len(with_record)}"
    )
    if tickets:
        sample = tickets[0]
        print(f'  e.g. #{sample["id"]} "{sample["subject"]}" tags {sample.get("tags")}')
