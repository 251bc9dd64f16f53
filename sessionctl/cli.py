"""``sessionctl``: run, feed and inspect the pipeline, locally or from files."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path


def _state_dir(args: argparse.Namespace) -> Path:
    return Path(args.state_dir or os.environ.get("SESSIONCTL_STATE_DIR") or ".sessionctl")


def _iso(value: str) -> datetime:
    """An RFC 3339 date-time; one written without an offset is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r}: {exc}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _use_stack(args: argparse.Namespace):
    """Point this process's clients and settings at the running local stack."""
    from sessionctl.local_stack import load_stack

    stack = load_stack(_state_dir(args))
    os.environ.update(stack.env())
    return stack


def cmd_local_up(args: argparse.Namespace) -> int:
    from sessionctl.local_stack import start_stack

    extra = dict(item.split("=", 1) for item in args.env)
    if args.crm:
        extra.setdefault("CRM__KIND", args.crm)
    stack = start_stack(_state_dir(args), extra_env=extra)
    env_file = _state_dir(args) / "stack.env"
    print("Local stack is up:")
    for name, url in sorted(stack.function_urls.items()):
        print(f"  function {name:<9} {url}")
    print(f"  firestore          {stack.firestore_host}")
    print(f"  pubsub             {stack.pubsub_host}")
    print(f"  storage            {stack.storage_host} (bucket {stack.bucket})")
    print(f"  crm sink           {stack.crm_sink_url} (webhook posts)")
    print(f"  look-alike CRMs    {stack.fake_crm_url}/{{zendesk,salesforce,freshdesk,kustomer}}")
    print(f"  CRM in use         {stack.env().get('CRM__KIND', 'none')}")
    print(f"Settings: {env_file}  (use them with: source {env_file})")
    print("Next: sessionctl publish EVENTS.jsonl; sessionctl tick; sessionctl local down")
    return 0


def cmd_local_down(args: argparse.Namespace) -> int:
    from sessionctl.local_stack import stop_stack

    stop_stack(_state_dir(args))
    print("Local stack is down.")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from sessionctl.feed import publish_and_track, wait_ingested
    from shared import bootstrap

    stack = _use_stack(args)
    with open(args.events, "rb") as handle:
        published = publish_and_track(stack, handle)
    print(f"published {published.count} messages to {stack.topics['events']}")
    if not args.no_wait:
        stored, kept = wait_ingested(bootstrap.store(), published)
        print(f"ingested: {stored} distinct events stored, {kept} rejected messages kept")
    return 0


def cmd_tick(args: argparse.Namespace) -> int:
    from sessionctl.feed import publish_tick, wait_tick
    from shared import bootstrap

    stack = _use_stack(args)
    message_id = publish_tick(stack, args.now)
    print(f"tick {message_id} published to {stack.topics['ticks']}")
    if not args.no_wait:
        done = wait_tick(bootstrap.store(), message_id)
        counts = ", ".join(
            f"{done.get(k, 0)} {k}"
            for k in ("written", "unchanged", "deferred", "skipped", "failed")
        )
        print(f"finalizer at {done['now'].isoformat()}: {counts}")
        for session_id in done.get("written_ids", []):
            print(f"  wrote metadata-{session_id}.json")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from sessionctl.replay import run
    from shared.config import Settings

    settings = Settings()
    delay = None if args.finalize_delay is None else timedelta(seconds=args.finalize_delay)
    now = args.now or datetime.now(UTC)
    return run(Path(args.events), Path(args.out), now=now, settings=settings, delay=delay)


def cmd_demo(args: argparse.Namespace) -> int:
    from sessionctl.demo import run_demo

    return run_demo(
        state_dir=_state_dir(args), out_dir=Path(args.out), seed=args.seed, sessions=args.sessions
    )


def cmd_show(args: argparse.Namespace) -> int:
    from sessionctl.inspect import show_session

    _use_stack(args)
    return show_session(args.session_id)


def cmd_quarantine_list(args: argparse.Namespace) -> int:
    from sessionctl.inspect import list_quarantine

    _use_stack(args)
    return list_quarantine(include_replayed=args.all)


def cmd_quarantine_replay(args: argparse.Namespace) -> int:
    from sessionctl.inspect import replay_quarantined

    stack = _use_stack(args)
    data = Path(args.data).read_bytes() if args.data else None
    return replay_quarantined(stack, args.id, data)


def cmd_crm_dead_letters(args: argparse.Namespace) -> int:
    from sessionctl.inspect import list_dead_letters

    _use_stack(args)
    return list_dead_letters(include_replayed=args.all)


def cmd_crm_replay(args: argparse.Namespace) -> int:
    from sessionctl.inspect import replay_dead_letter

    stack = _use_stack(args)
    return replay_dead_letter(stack, args.id)


def cmd_stage(args: argparse.Namespace) -> int:
    from sessionctl.stage import main

    return main(["--out", args.out])


def cmd_schema(args: argparse.Namespace) -> int:
    from shared.domain.schemas import write_schemas

    for path in write_schemas(Path(args.out)):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sessionctl", description=__doc__)
    parser.add_argument("--state-dir", help="where the local stack keeps its state (.sessionctl)")
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="the local stack of emulators and functions")
    local_commands = local.add_subparsers(dest="local_command", required=True)
    up = local_commands.add_parser("up", help="start it")
    up.add_argument("--crm", choices=["none", "zendesk", "salesforce", "freshdesk", "kustomer"])
    up.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="a setting, repeatable"
    )
    up.set_defaults(func=cmd_local_up)
    local_commands.add_parser("down", help="stop it").set_defaults(func=cmd_local_down)

    publish = commands.add_parser("publish", help="publish envelopes (JSONL) to the events topic")
    publish.add_argument("events")
    publish.add_argument(
        "--no-wait", action="store_true", help="return once published, not once ingested"
    )
    publish.set_defaults(func=cmd_publish)

    tick = commands.add_parser("tick", help="publish a finalizer tick")
    tick.add_argument("--now", type=_iso, help="the time the tick stands for (local only)")
    tick.add_argument(
        "--no-wait", action="store_true", help="return once published, not once finalized"
    )
    tick.set_defaults(func=cmd_tick)

    replay = commands.add_parser("replay", help="compute the files from a JSONL file, offline")
    replay.add_argument("events")
    replay.add_argument("--out", required=True)
    replay.add_argument("--now", type=_iso)
    replay.add_argument("--finalize-delay", type=int, metavar="SECONDS")
    replay.set_defaults(func=cmd_replay)

    demo = commands.add_parser("demo", help="the whole path on the local emulators")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--sessions", type=int, default=60)
    demo.add_argument("--out", default="demo-output")
    demo.set_defaults(func=cmd_demo)

    show = commands.add_parser("show", help="the session card of a session on the local stack")
    show.add_argument("session_id")
    show.set_defaults(func=cmd_show)

    quarantine = commands.add_parser("quarantine", help="rejected messages")
    q_commands = quarantine.add_subparsers(dest="quarantine_command", required=True)
    q_list = q_commands.add_parser("list")
    q_list.add_argument("--all", action="store_true", help="include replayed ones")
    q_list.set_defaults(func=cmd_quarantine_list)
    q_replay = q_commands.add_parser("replay")
    q_replay.add_argument("id")
    q_replay.add_argument("--data", help="a file with the fixed message body to publish instead")
    q_replay.set_defaults(func=cmd_quarantine_replay)

    crm = commands.add_parser("crm", help="CRM jobs that failed for good")
    crm_commands = crm.add_subparsers(dest="crm_command", required=True)
    dead = crm_commands.add_parser("dead-letters", help="list them")
    dead.add_argument("--all", action="store_true", help="include replayed ones")
    dead.set_defaults(func=cmd_crm_dead_letters)
    crm_replay = crm_commands.add_parser("replay", help="publish one again to the CRM jobs topic")
    crm_replay.add_argument("id")
    crm_replay.set_defaults(func=cmd_crm_replay)

    stage = commands.add_parser("stage", help="stage each function's deployable source")
    stage.add_argument("--out", default="build/functions")
    stage.set_defaults(func=cmd_stage)

    schema = commands.add_parser("schema", help="write the JSON Schemas of both files")
    schema.add_argument("--out", default="schemas")
    schema.set_defaults(func=cmd_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
