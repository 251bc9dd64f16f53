"""``sessionctl publish`` and ``sessionctl tick``: feed the running local stack."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sessionctl.commands.common import ISO, json_option, print_json, progress, use_stack

TICK_COUNTS = ("written", "unchanged", "deferred", "skipped", "failed")

if TYPE_CHECKING:
    from shared.adapters.firestore_schedule import Backlog


@click.command("publish")
@click.argument("events", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--no-wait", is_flag=True, help="return once published, not once ingested")
@json_option
@click.pass_context
def publish(ctx: click.Context, events: Path, no_wait: bool, as_json: bool) -> int:
    """Publish envelopes (JSONL) to the events topic."""
    from sessionctl.feed import publish_and_track, wait_ingested
    from sessionctl.probe import local_probe

    stack = use_stack(ctx)
    with events.open("rb") as handle, progress("publishing") as update:
        published = publish_and_track(stack, handle, progress=update)
    result = {"published": published.count, "topic": stack.topics["events"]}
    if not as_json:
        click.echo(f"published {published.count} messages to {stack.topics['events']}")
    if not no_wait:
        with progress("waiting for ingest") as update:
            stored, kept = wait_ingested(local_probe(), published, progress=update)
        result |= {"stored": stored, "rejected_kept": kept}
        if not as_json:
            click.echo(f"ingested: {stored} distinct events stored, {kept} rejected messages kept")
    if as_json:
        print_json(result)
    return 0


@click.command("tick")
@click.option("--now", type=ISO, help="the time the tick stands for (local only)")
@click.option("--no-wait", is_flag=True, help="return once published, not once finalized")
@json_option
@click.pass_context
def tick(ctx: click.Context, now: datetime | None, no_wait: bool, as_json: bool) -> int:
    """Publish a finalizer tick."""
    from sessionctl.feed import publish_tick, wait_tick
    from sessionctl.probe import local_probe
    from shared import bootstrap

    stack = use_stack(ctx)
    message_id = publish_tick(stack, now)
    if not as_json:
        click.echo(f"tick {message_id} published to {stack.topics['ticks']}")
    if no_wait:
        if as_json:
            print_json({"tick": message_id, "topic": stack.topics["ticks"]})
        return 0
    with progress("waiting for the finalizer") as update:
        update(0, None)
        done = wait_tick(local_probe(), message_id)
    backlog = bootstrap.schedule().backlog(done["now"])
    if as_json:
        held = [{"session_id": sid, "until": until.isoformat()} for sid, until in backlog.held]
        backlog_doc = {"due": backlog.due, "free": backlog.free, "held": held}
        print_json(
            {"tick": message_id, "topic": stack.topics["ticks"], **done} | {"backlog": backlog_doc}
        )
        return 0
    counts = ", ".join(f"{done.get(k, 0)} {k}" for k in TICK_COUNTS)
    click.echo(f"finalizer at {done['now'].isoformat()}: {counts}")
    for session_id in done.get("written_ids", []):
        click.echo(f"  wrote metadata-{session_id}.json")
    click.echo(describe_backlog(backlog))
    return 0


def describe_backlog(backlog: Backlog) -> str:
    """One line: settled, or what is still due and until when live claims hold it."""
    if backlog.due == 0:
        return "settled: nothing else is due"
    line = f"still due: {backlog.due} sessions, {backlog.free} free for the next tick"
    if backlog.held:
        first, last = backlog.held[0][1], backlog.held_until
        line += (
            f"; {len(backlog.held)} held by a live claim until "
            f"{first.isoformat(timespec='seconds')}"
            + (f" .. {last.isoformat(timespec='seconds')}" if last != first else "")
        )
    return line


def register(cli: click.Group) -> None:
    cli.add_command(publish)
    cli.add_command(tick)
