"""``python -m devstack.chaos --sessions N --seed S`` (what ``make chaos`` runs).

Exit 0 when the run settled with nothing lost, wrong or duplicated; 1 otherwise. The
closing table goes to stdout, the report (JSON) and every process's log to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devstack.chaos.plan import ChaosConfig
from devstack.chaos.runner import ChaosReport, run_chaos

ROWS = (
    ("lost_files", "lost files"),
    ("extra_files", "files of sessions not due"),
    ("wrong_sessions", "sessions with a wrong field"),
    ("duplicate_objects", "duplicate objects (a version announced unlike, an unrecorded object)"),
    ("version_gaps", "version gaps or steps back"),
    ("missing_posts", "missing webhook posts"),
    ("wrong_posts", "webhook posts unlike the stored file of their version"),
    ("missing_records", "missing CRM records"),
    ("duplicate_records", "duplicate CRM records"),
    ("unexpected_records", "CRM records the rules forbid"),
    ("attachments_behind", "CRM attachments behind the file"),
    ("wrongly_quarantined", "good events quarantined"),
    ("missing_quarantine", "bad lines not quarantined"),
    ("dead_letters", "CRM dead letters"),
)
INFO = (
    ("same_version_repairs", "same-version rewrites, same content (crash repairs)"),
    ("replaced_before_notice", "stale same-version writes replaced by the claim holder"),
    ("duplicate_posts", "webhook re-posts under the same Idempotency-Key"),
)


def render(report: ChaosReport) -> str:
    v, f, c = report.verdict, report.figures, report.config
    status = "PASSED" if report.passed else "FAILED"
    lines = [
        f"chaos run: {c['sessions']} sessions, seed {c['seed']}"
        + (f", deliberate bug {c['bug']!r}" if c.get("bug") else "")
        + f": {status}",
        "",
        "| check | count |",
        "|---|---:|",
    ]
    lines += [f"| {label} | {v[key]} |" for key, label in ROWS]
    lines += [f"| {label} (informational) | {v[key]} |" for key, label in INFO]
    lines += [
        "",
        "| figure | value |",
        "|---|---:|",
        f"| sessions due (replay of the clean log) | {v['sessions_expected']} |",
        f"| messages published (duplicates and bad lines included) | {f.get('messages')} |",
        f"| distinct events stored | {f.get('distinct_events')} |",
        f"| metadata generations written | {v['generations']} |",
        f"| webhook posts expected (one per version) | {v['posts_expected']} |",
        f"| CRM records expected | {v['records_expected']} |",
        f"| publish time (4 processes) | {f.get('publish_seconds')} s |",
        f"| ingest time, all events stored | {f.get('ingest_seconds')} s |",
        f"| ticks sent | {f.get('ticks_sent')} |",
        f"| settle time after the last fault | {_s(f.get('settle_seconds'))} |",
        f"| settle time after the stream | {_s(f.get('settle_seconds_after_stream'))} |",
        f"| wall time | {f.get('wall_seconds')} s |",
        "",
        "Faults injected:",
    ]
    for fault in report.faults:
        lines.append(f"  {fault['fired_at_s']:7.1f} s  at {fault['at']:.0%}  {fault['label']}")
    kills = {name: i["kills"] for name, i in report.instances.items() if i["kills"]}
    lines.append(f"Instances SIGKILLed: {kills}")
    lines.append(
        "Clock skew: second finalizer "
        f"{c['clock_skew_seconds']:+.0f} s, second CRM worker {c['crm_skew_seconds']:+.0f} s; "
        f"{c['racing']} instances of every function but ingest, racing"
    )
    lines.append(f"Connections through the fault proxies: {report.proxies}")
    if v.get("examples"):
        lines.append("First problems:")
        lines += [f"  {e}" for e in v["examples"]]
    return "\n".join(lines)


def _s(value: object) -> str:
    return "not settled" if value is None else f"{value} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.chaos", description=__doc__)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("build/chaos"))
    parser.add_argument("--bug", default="", help="a deliberate bug: no_generation_precondition")
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=ChaosConfig.settle_timeout,
        help="seconds of settling at most (a backstop: a run where nothing moves for longer "
        "than the retry policy's maximum backoff stops before)",
    )
    args = parser.parse_args(argv)
    try:
        config = ChaosConfig(
            sessions=args.sessions,
            seed=args.seed,
            publishers=args.publishers,
            bug=args.bug,
            settle_timeout=args.settle_timeout,
        )
    except ValueError as exc:
        parser.error(str(exc))
    report = run_chaos(config, args.out / f"s{args.sessions}-seed{args.seed}")
    print()
    print(render(report))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
