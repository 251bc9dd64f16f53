"""``sessionctl quarantine list|replay``: rejected messages."""

from __future__ import annotations

from pathlib import Path

import click

from sessionctl.commands.common import use_stack


@click.group("quarantine")
def quarantine() -> None:
    """Rejected messages."""


@quarantine.command("list")
@click.option("--all", "include_replayed", is_flag=True, help="include replayed ones")
@click.pass_context
def list_(ctx: click.Context, include_replayed: bool) -> int:
    """List the kept messages: id, received, reason, size, detail."""
    from sessionctl.inspect import list_quarantine

    use_stack(ctx)
    return list_quarantine(include_replayed=include_replayed)


@quarantine.command("replay")
@click.argument("id")
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="a file with the fixed message body to publish instead",
)
@click.pass_context
def replay(ctx: click.Context, id: str, data: Path | None) -> int:  # noqa: A002
    """Publish one again, fixed by --data if given."""
    from sessionctl.inspect import replay_quarantined

    stack = use_stack(ctx)
    return replay_quarantined(stack, id, data.read_bytes() if data else None)


def register(cli: click.Group) -> None:
    cli.add_command(quarantine)
