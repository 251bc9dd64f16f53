"""``sessionctl quarantine list|replay``: rejected messages."""

from __future__ import annotations

from pathlib import Path

import click

from sessionctl.commands.common import interactive, json_option, print_json, table, use_stack


@click.group("quarantine")
def quarantine() -> None:
    """Rejected messages."""


@quarantine.command("list")
@click.option("--all", "include_replayed", is_flag=True, help="include replayed ones")
@json_option
@click.pass_context
def list_(ctx: click.Context, include_replayed: bool, as_json: bool) -> int:
    """List the kept messages: id, received, reason, size, detail.

    A table at a terminal, tab-separated lines in a pipe, JSON with --json.
    """
    from sessionctl.inspect import list_quarantine
    from shared import bootstrap

    use_stack(ctx)
    if not (as_json or interactive()):
        return list_quarantine(include_replayed=include_replayed)
    records = bootstrap.quarantine().list_quarantine(include_replayed=include_replayed)
    if as_json:
        print_json(
            [
                {
                    "id": r.id,
                    "received_at": r.received_at,
                    "reason": r.reason,
                    "bytes": len(r.raw),
                    "detail": r.detail,
                    "attributes": r.attributes,
                    "replayed_as": r.replayed_as,
                }
                for r in records
            ]
        )
        return 0
    table(
        f"{len(records)} quarantined message(s)",
        ["id", "received", "reason", "size", "detail", "replayed as"],
        [
            [
                r.id,
                r.received_at.isoformat(timespec="seconds"),
                r.reason,
                f"{len(r.raw)} bytes",
                r.detail,
                r.replayed_as or "",
            ]
            for r in records
        ],
        styles=["dim" if r.replayed_as else "" for r in records],
    )
    return 0


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
