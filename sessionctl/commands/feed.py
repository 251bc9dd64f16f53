"""``sessionctl publish`` and ``sessionctl tick``: feed the running local stack."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from sessionctl.commands.common import ISO, use_stack


@click.command("publish")
@click.argument("events", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--no-wait", is_flag=True, help="return once published, not once ingested")
@click.pass_context
def publish(ctx: click.Context, events: Path, no_wait: bool) -> int:
    """Publish envelopes (JSONL) to the events topic."""
    from sessionctl.feed import publish_and_track, wait_ingested
    from sessionctl.probe import local_probe

    stack = use_stack(ctx)
    with events.open("rb") as handle:
        published = publish_and_track(stack, handle)
    click.echo(f"published {published.count} messages to {stack.topics['events']}")
    if not no_wait:
        stored, kept = wait_ingested(local_probe(), published)
        click.echo(f"ingested: {stored} distinct events stored, {kept} rejected messages kept")
    return 0


@click.command("tick")
@click.option("--now", type=ISO, help="the time the tick stands for (local only)")
@click.option("--no-wait", is_flag=True, help="return once published, not once finalized")
@click.pass_context
def tick(ctx: click.Context, now: datetime | None, no_wait: bool) -> int:
    """Publish a finalizer tick."""
    from sessionctl.feed import publish_tick, wait_tick
    from sessionctl.probe import local_probe

    stack = use_stack(ctx)
    message_id = publish_tick(stack, now)
    click.echo(f"tick {message_id} published to {stack.topics['ticks']}")
    if not no_wait:
        done = wait_tick(local_probe(), message_id)
        counts = ", ".join(
            f"{done.get(k, 0)} {k}"
            for k in ("written", "unchanged", "deferred", "skipped", "failed")
        )
        click.echo(f"finalizer at {done['now'].isoformat()}: {counts}")
        for session_id in done.get("written_ids", []):
            click.echo(f"  wrote metadata-{session_id}.json")
    return 0


def register(cli: click.Group) -> None:
    cli.add_command(publish)
    cli.add_command(tick)
