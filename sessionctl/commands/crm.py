"""``sessionctl crm dead-letters|replay``: CRM jobs that failed for good."""

from __future__ import annotations

import click

from sessionctl.commands.common import interactive, json_option, print_json, table, use_stack


@click.group("crm")
def crm() -> None:
    """CRM jobs that failed for good."""


@crm.command("dead-letters")
@click.option("--all", "include_replayed", is_flag=True, help="include replayed ones")
@json_option
@click.pass_context
def dead_letters(ctx: click.Context, include_replayed: bool, as_json: bool) -> int:
    """List them (a table at a terminal, tab-separated lines in a pipe, JSON with --json)."""
    from sessionctl.inspect import list_dead_letters
    from shared import bootstrap

    use_stack(ctx)
    if not (as_json or interactive()):
        return list_dead_letters(include_replayed=include_replayed)
    letters = bootstrap.crm_records().dead_letters(include_replayed=include_replayed)
    if as_json:
        print_json(
            [
                {
                    "id": d.id,
                    "failed_at": d.failed_at,
                    "job": d.job,
                    "error": d.error,
                    "replayed_as": d.replayed_as,
                }
                for d in letters
            ]
        )
        return 0
    table(
        f"{len(letters)} dead-lettered CRM job(s)",
        ["id", "failed", "session", "job", "error", "replayed as"],
        [
            [
                d.id,
                d.failed_at.isoformat(timespec="seconds"),
                d.job.get("session_id"),
                d.job.get("trigger") or f"file v{d.job.get('version')}",
                d.error,
                d.replayed_as or "",
            ]
            for d in letters
        ],
        styles=["dim" if d.replayed_as else "" for d in letters],
    )
    return 0


@crm.command("replay")
@click.argument("id")
@click.pass_context
def replay(ctx: click.Context, id: str) -> int:  # noqa: A002
    """Publish one again to the CRM jobs topic."""
    from sessionctl.inspect import replay_dead_letter

    stack = use_stack(ctx)
    return replay_dead_letter(stack, id)


def register(cli: click.Group) -> None:
    cli.add_command(crm)
