"""The figures of ``make bench``: each a ratio whose denominator is measured in the same run.

On a shared machine wall times swing with the neighbours; a ratio of two runs taken
side by side does much less. So each figure measures its own baseline (raw creates,
the same query, a bare skeleton, a smaller run) right next to the thing measured.
Benchmarks assert only generous floors on these ratios, never wall times.

``Scale`` sets the sizes: ``FULL`` for ``make bench``, ``SMOKE`` for the seconds-long
version in ``make test`` that keeps this harness from rotting.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from devstack.simulate import simulate_traffic
from tests.benchmarks import drive
from tests.benchmarks.counting import COUNTER, Ops
from tests.factory import SessionScript

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Scale:
    name: str
    traffic_sessions: int  # simulator sessions for P1/P2/cost
    ingest_rounds: int  # alternating raw/ingest rounds for P1
    p4_due: int
    p4_stored: int
    p5_sessions: int  # throughput vs skeleton
    drain_small: int
    drain_large: int
    p6_small: int
    p6_large: int
    crm_sessions: int


FULL = Scale("full", 200, 2, 1000, 100_000, 1000, 500, 5000, 100, 10_000, 400)
SMOKE = Scale("smoke", 12, 1, 20, 500, 24, 10, 40, 5, 40, 0)
MID = Scale("mid", 100, 2, 200, 20_000, 200, 100, 1000, 100, 2000, 200)  # a quicker look
SCALES = {s.name: s for s in (FULL, MID, SMOKE)}


def side_by_side(first: Any, second: Any) -> tuple[Any, Any]:
    """Run two timed measurements at the same time: whatever the neighbours do to the
    machine meanwhile, they do to both, so the ratio of the two holds."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.submit(first), pool.submit(second)
        return a.result(), b.result()


def figure(value: float, target: str, **details: Any) -> dict[str, Any]:
    return {"value": round(float(value), 4), "target": target, **details}


# --- P1, P2, cost (ingest and finalize of simulator traffic) ----------------------------------


def _raw_creates(bench: drive.Bench, bodies: list[bytes], workers: int) -> float:
    """Seconds to create one document per event, shaped like a stored event, at ``workers``."""
    from concurrent.futures import ThreadPoolExecutor

    collection = bench.db.collection(f"raw_{uuid.uuid4().hex[:8]}")

    def one(body: bytes) -> None:
        try:
            doc = json.loads(body)
        except ValueError:
            doc = {}
        doc = doc if isinstance(doc, dict) else {}
        sid = str(doc.get("session_id", "x"))[:100]
        event = {
            "event_id": str(doc.get("event_id", "")),
            "type": str(doc.get("type", "")),
            "occurred_at": datetime.now(UTC),
            "expire_at": datetime.now(UTC),
            "envelope": body[:900_000].decode("utf-8", "replace"),
        }
        ref = collection.document(sid).collection("events").document(uuid.uuid4().hex)
        ref.create(event)

    _, seconds = drive.timed(lambda: list(ThreadPoolExecutor(workers).map(one, bodies)))
    return seconds


def ingest_figures(project: str, scale: Scale) -> dict[str, Any]:
    """P1 (ingest ÷ raw creates), P2 (writes and reads per event) and the cost per session."""
    traffic = simulate_traffic(seed=7, now=datetime.now(UTC), sessions=scale.traffic_sessions)
    bodies = list(traffic.lines)
    raw_seconds = ingest_seconds = 0.0
    ingest_ops = Ops()
    outcomes: list[str] = []
    for round_ in range(scale.ingest_rounds):
        raw_bench, bench = drive.new_bench(project), drive.new_bench(project)
        with COUNTER.phase() as ops:
            raw_s, (outcomes, seconds) = side_by_side(
                lambda rb=raw_bench: _raw_creates(rb, bodies, drive.CONCURRENCY),
                lambda b=bench: drive.timed(drive.ingest_bodies, b, bodies),
            )
        raw_seconds += raw_s
        ingest_seconds += seconds
        if round_ == 0:
            ingest_ops = ops()
    # The phase held the raw creates too: one write, no read, per message.
    ingest_ops.fs_writes -= len(bodies)
    stored = outcomes.count("stored")
    quarantined = outcomes.count("quarantined")
    # Each rejected message is kept in one quarantine document: not an event's cost.
    event_writes = ingest_ops.fs_writes - quarantined
    raw_rate = len(bodies) * scale.ingest_rounds / raw_seconds
    ingest_rate = len(bodies) * scale.ingest_rounds / ingest_seconds
    # Finalize the same traffic: what the whole pipeline costs per session.
    now = datetime.now(UTC) + timedelta(days=2)  # every simulated session is due by then
    with COUNTER.phase() as ops:
        outcome = drive.finalize_all(bench, now)
    finalize_ops = ops()
    sessions = len(traffic.sessions)
    return {
        "P1": figure(
            ingest_rate / raw_rate,
            ">= 0.7",
            ingest_messages_per_s=round(ingest_rate, 1),
            raw_creates_per_s=round(raw_rate, 1),
            concurrency=drive.CONCURRENCY,
            messages=len(bodies),
        ),
        "P2": figure(
            event_writes / stored,
            "<= 1.05 writes per event",
            writes_per_event=round(event_writes / stored, 4),
            reads_per_event=round(ingest_ops.fs_reads / stored, 4),
            events=stored,
            messages=len(bodies),
            quarantined=quarantined,
            ops=ingest_ops.as_dict(),
        ),
        "_cost_input": {
            "sessions": sessions,
            "events": stored,
            "ingest": ingest_ops,
            "finalize": finalize_ops,
            "finalized": dict(outcome),
        },
    }


# --- P3 ------------------------------------------------------------------------------------


def burst_figure(project: str) -> dict[str, Any]:
    """200 events into one session within 2 s, 32 at a time: aborted commits."""
    bench = drive.new_bench(project)
    s = SessionScript(session_id=f"burst-{uuid.uuid4().hex[:8]}")
    s.at(0).add("session.created", {"session_type": "Voice inbound", "lang": "en"})
    for n in range(198):
        s.at(0.5 + n * 0.01).add(
            "stream.realtime_transcript", {"lines": [{"speaker": "agent", "text": f"word {n}"}]}
        )
    s.at(2.5).add("session.ended", {"final_status": "finished", "disconnected_by": "agent"})
    bodies = [json.dumps(d).encode() for d in s.docs]
    bodies = bodies[::2] + bodies[1::2]  # shuffled arrival
    with COUNTER.phase() as ops:
        outcomes = drive.ingest_bodies(bench, bodies, workers=32)
    burst = ops()
    stored = len(bench.events.load_events(s.session_id))
    retried = bench.counts.transaction_attempts - bench.counts.transactions
    return {
        "P3": figure(
            burst.fs_aborted + max(0, retried),
            "= 0",
            aborted_commits=burst.fs_aborted,
            attempts_retried=retried,
            stored=stored,
            all_stored=sorted(set(outcomes)) == ["stored"] and stored == 200,
            document_writes=burst.fs_writes,
        )
    }


# --- P4 ------------------------------------------------------------------------------------


def _copy_finalized(bench: drive.Bench, template_id: str, count: int) -> None:
    """``count`` copies of a finalized session's document (new ids): history, not due."""
    from concurrent.futures import ThreadPoolExecutor

    collection = bench.db.collection(bench.settings.sessions_collection)
    doc = collection.document(template_id).get().to_dict()
    assert doc is not None
    run = uuid.uuid4().hex[:6]

    def batch(start: int) -> None:
        writes = bench.db.batch()
        for n in range(start, min(start + 500, count)):
            sid = f"old-{run}-{n:07d}"
            writes.set(collection.document(sid), {**doc, "session_id": sid})
        writes.commit()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(batch, range(0, count, 500)))


def history_figure(project: str, scale: Scale) -> dict[str, Any]:
    """P4: finalizing 1,000 due sessions with 100,000 finalized stored, over with none.

    Both finalizations run at the same time, each on its own collections (one
    holding the history), as do the two bare due queries."""
    bench, empty_bench = drive.new_bench(project), drive.new_bench(project)
    first = drive.seed_due(bench, 10, "p4t")
    drive.finalize_all(bench, drive.DUE_NOW)  # a finalized session to copy as history
    _copy_finalized(bench, first[0], scale.p4_stored)
    drive.seed_due(bench, scale.p4_due, "p4")
    drive.seed_due(empty_bench, scale.p4_due, "p4")
    query_full, query_empty = side_by_side(
        lambda: drive.timed(drive.due_query_pages, bench, drive.DUE_NOW)[1],
        lambda: drive.timed(drive.due_query_pages, empty_bench, drive.DUE_NOW)[1],
    )
    (outcome_full, full), (outcome_empty, empty) = side_by_side(
        lambda: drive.timed(drive.finalize_all, bench, drive.DUE_NOW),
        lambda: drive.timed(drive.finalize_all, empty_bench, drive.DUE_NOW),
    )
    return {
        "P4": figure(
            full / empty,
            "<= 1.1",
            due=scale.p4_due,
            stored_finalized=scale.p4_stored,
            finalize_s_without=round(empty, 2),
            finalize_s_with=round(full, 2),
            bare_due_query_ratio=round(query_full / query_empty, 3),
            bare_due_query_s_without=round(query_empty, 3),
            bare_due_query_s_with=round(query_full, 3),
            written=[outcome_empty["written"], outcome_full["written"]],
        )
    }


# --- P5 ------------------------------------------------------------------------------------


def throughput_figure(project: str, scale: Scale) -> dict[str, Any]:
    """P5: finalize throughput over a bare skeleton at the same concurrency (both at once,
    on sessions of their own); and the drain of a small and a large backlog."""
    bench, skeleton_bench = drive.new_bench(project), drive.new_bench(project)
    drive.seed_due(bench, scale.p5_sessions, "p5")
    drive.seed_due(skeleton_bench, scale.p5_sessions, "p5")
    (count, skeleton), (outcome, ours) = side_by_side(
        lambda: drive.timed(drive.skeleton_finalize, skeleton_bench, drive.DUE_NOW),
        lambda: drive.timed(drive.finalize_all, bench, drive.DUE_NOW),
    )
    # The drains: a first one of the small size warms the emulators' JIT and the client
    # channels up and is not counted, so that the small backlog, measured first, does not
    # pay for the warm-up alone.
    warm_up = drive.new_bench(project)
    drive.seed_due(warm_up, scale.drain_small, "drain")
    drive.finalize_all(warm_up, drive.DUE_NOW)
    drains, bare = {}, {}
    for size in (scale.drain_small, scale.drain_large):
        backlog = drive.new_bench(project)
        drive.seed_due(backlog, size, "drain")
        # The skeleton first, on the same backlog (it leaves every session due): what the
        # emulators alone make of a backlog this size, in the same run.
        bare[size] = drive.timed(drive.skeleton_finalize, backlog, drive.DUE_NOW)[1]
        done, seconds = drive.timed(drive.finalize_all, backlog, drive.DUE_NOW)
        drains[size] = (seconds, done["written"])
    (small_s, small_w), (large_s, large_w) = drains[scale.drain_small], drains[scale.drain_large]
    per_small, per_large = small_s / scale.drain_small, large_s / scale.drain_large
    bare_ratio = (bare[scale.drain_large] / scale.drain_large) / (
        bare[scale.drain_small] / scale.drain_small
    )
    return {
        "P5": figure(
            (outcome["written"] / ours) / (count / skeleton),
            ">= 0.7 of the skeleton; drain s/session flat within 20%",
            concurrency=drive.CONCURRENCY,
            sessions=count,
            finalize_per_s=round(outcome["written"] / ours, 1),
            skeleton_per_s=round(count / skeleton, 1),
            drain_per_session_ratio=round(per_large / per_small, 3),
            skeleton_drain_per_session_ratio=round(bare_ratio, 3),
            drain_ratio_over_skeleton=round(per_large / per_small / bare_ratio, 3),
            drain_small=[scale.drain_small, round(small_s, 1), small_w],
            drain_large=[scale.drain_large, round(large_s, 1), large_w],
            skeleton_drain_s=[round(bare[scale.drain_small], 1), round(bare[scale.drain_large], 1)],
        )
    }


# --- P6 ------------------------------------------------------------------------------------


def _probe_rss(bench: drive.Bench) -> tuple[int, dict[str, int], dict[str, int]]:
    """Peak RSS (KiB) of a fresh process that does what one finalizer does on one tick;
    with what it did and its peak so far after each phase (``clients``, ``dispatched``,
    ``worked``), so that a growth can be placed."""
    settings = bench.settings.model_dump(mode="json")
    env = os.environ.copy()
    env["PYTHONPATH"] = str(REPO_ROOT)
    out = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.rss_probe", json.dumps(settings)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=3600,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return int(result["maxrss_kb"]), result["outcomes"], result["peak_kb_by_phase"]


def memory_figure(project: str, scale: Scale) -> dict[str, Any]:
    """P6: the finalizer's peak RSS with 10,000 due sessions over with 100."""
    found = {}
    for size in (scale.p6_small, scale.p6_large):
        bench = drive.new_bench(project)
        drive.seed_due(bench, size, "p6")
        found[size] = _probe_rss(bench)
    (small, small_out, small_peaks) = found[scale.p6_small]
    (large, large_out, large_peaks) = found[scale.p6_large]
    return {
        "P6": figure(
            large / small,
            "within ±10% (0.9-1.1)",
            rss_kb_small=[scale.p6_small, small],
            rss_kb_large=[scale.p6_large, large],
            outcomes_small=small_out,
            outcomes_large=large_out,
            peak_kb_by_phase_small=small_peaks,
            peak_kb_by_phase_large=large_peaks,
        )
    }


# --- P7 ------------------------------------------------------------------------------------


def crm_figure(project: str, scale: Scale, fakes: Any) -> dict[str, Any]:
    """P7: CRM records a minute over the rate the CRM allows, and duplicates."""
    from tests.benchmarks import test_crm_throughput as crm

    burst = crm.run_burst(project, fakes, "zendesk", scale.crm_sessions, throttled=False)
    return {
        "P7": figure(
            1 / burst.ratio,
            ">= 0.9 with 0 duplicates",
            records=burst.records,
            duplicates=burst.duplicates,
            missing=burst.missing,
            calls=burst.calls,
            allowed_per_minute=burst.per_minute,
            records_per_minute=round(burst.records / burst.wall * 60, 1),
            wall_s=round(burst.wall, 1),
        )
    }


# --- cost ----------------------------------------------------------------------------------

# List prices (USD), as the pricing pages state them:
FIRESTORE_PRICES = {  # per 100,000 documents, multi-region (nam5 / eur3)
    "reads": 0.06,
    "writes": 0.18,
    "deletes": 0.02,
    "source": "https://cloud.google.com/firestore/pricing",
}
GCS_PRICES = {  # per 1,000 operations, Standard storage
    "class_a": 0.005,
    "class_b": 0.0004,
    "source": "https://cloud.google.com/storage/pricing (worked figures: /storage/pricing-examples)",
}
PUBSUB_PRICES = {  # per TiB of publish + delivery, at least 1,000 bytes per request
    "per_tib": 40.0,
    "source": "https://cloud.google.com/pubsub/pricing",
}


def cost_figure(cost_input: dict[str, Any]) -> dict[str, Any]:
    """Operations per 1,000 sessions of simulator traffic (ingest + finalize), priced."""
    sessions = cost_input["sessions"]
    total: Ops = cost_input["ingest"]
    finalize: Ops = cost_input["finalize"]
    ops = {k: v + finalize.as_dict()[k] for k, v in total.as_dict().items()}
    per_k = {k: v * 1000 / sessions for k, v in ops.items()}
    # Every message we publish is delivered once (one subscription per topic) by push.
    pubsub_bytes = per_k["ps_billable_bytes"] * 2
    dollars = {
        "firestore_reads": per_k["fs_reads"] * FIRESTORE_PRICES["reads"] / 100_000,
        "firestore_writes": per_k["fs_writes"] * FIRESTORE_PRICES["writes"] / 100_000,
        "firestore_deletes": per_k["fs_deletes"] * FIRESTORE_PRICES["deletes"] / 100_000,
        "gcs_class_a": per_k["gcs_class_a"] * GCS_PRICES["class_a"] / 1000,
        "gcs_class_b": per_k["gcs_class_b"] * GCS_PRICES["class_b"] / 1000,
        "pubsub": pubsub_bytes * PUBSUB_PRICES["per_tib"] / 2**40,
    }
    return {
        "cost": figure(
            sum(dollars.values()),
            "USD per 1,000 sessions (report; no target)",
            per_1000_sessions={
                k: round(per_k[k], 1)
                for k in (
                    "fs_reads",
                    "fs_writes",
                    "fs_deletes",
                    "gcs_class_a",
                    "gcs_class_b",
                    "ps_messages",
                    "ps_publish_requests",
                )
            },
            dollars={k: round(v, 6) for k, v in dollars.items()},
            events_per_session=round(cost_input["events"] / sessions, 2),
            finalized=cost_input["finalized"],
            prices={
                "firestore": FIRESTORE_PRICES,
                "gcs": GCS_PRICES,
                "pubsub": PUBSUB_PRICES,
            },
            excludes="function compute time, storage at rest, CRM calls",
        )
    }


# --- the table -----------------------------------------------------------------------------

ORDER = ("P1", "P2", "P3", "P4", "P5", "P6", "P7", "cost")


def _detail(name: str, fig: dict[str, Any]) -> str:
    keys = {
        "P1": ("ingest_messages_per_s", "raw_creates_per_s"),
        "P2": ("writes_per_event", "reads_per_event", "events"),
        "P3": ("aborted_commits", "attempts_retried", "all_stored"),
        "P4": ("finalize_s_without", "finalize_s_with", "bare_due_query_ratio"),
        "P5": (
            "finalize_per_s",
            "skeleton_per_s",
            "drain_per_session_ratio",
            "skeleton_drain_per_session_ratio",
        ),
        "P6": ("rss_kb_small", "rss_kb_large"),
        "P7": ("records_per_minute", "allowed_per_minute", "duplicates"),
        "cost": ("per_1000_sessions",),
    }[name]
    return "; ".join(f"{k}={fig.get(k)}" for k in keys)


def table(report: dict[str, Any]) -> str:
    rows = [("figure", "value", "target", "measured")]
    for name in ORDER:
        if name in report:
            fig = report[name]
            rows.append((name, f"{fig['value']:g}", str(fig["target"]), _detail(name, fig)))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in rows]
    lines.insert(1, "-" * (sum(widths) + 6 + 30))
    return "\n".join(lines)


def run_all(
    project: str,
    scale: Scale,
    fakes: Any | None,
    on_figure: Any = lambda report: None,
    only: set[str] | None = None,
) -> dict[str, Any]:
    """Every figure (or those named in ``only``); ``on_figure(report)`` after each, so a
    long run leaves what it has."""
    report: dict[str, Any] = {"scale": scale.name, "started_at": datetime.now(UTC).isoformat()}

    def wanted(*names: str) -> bool:
        return only is None or bool(only & set(names))

    if wanted("P1", "P2", "cost"):
        found = ingest_figures(project, scale)
        cost_input = found.pop("_cost_input")
        report |= found
        report |= cost_figure(cost_input)
        on_figure(report)
    if wanted("P3"):
        report |= burst_figure(project)
        on_figure(report)
    if wanted("P5"):
        report |= throughput_figure(project, scale)
        on_figure(report)
    if wanted("P4"):
        report |= history_figure(project, scale)
        on_figure(report)
    if wanted("P6"):
        report |= memory_figure(project, scale)
        on_figure(report)
    if wanted("P7") and fakes is not None and scale.crm_sessions:
        report |= crm_figure(project, scale, fakes)
    report["finished_at"] = datetime.now(UTC).isoformat()
    on_figure(report)
    return report
