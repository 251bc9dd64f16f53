"""``sessionctl crm dead-letters|replay``: CRM jobs that failed for good."""

from __future__ import annotations

import click

from sessionctl.commands.common import use_stack


@click.group("crm")
def crm() -> None:
    """CRM jobs that failed for good."""


@crm.command("dead-letters")
@click.option("--all", "include_replayed", is_flag=True, help="include replayed ones")
@click.pass_context
def dead_letters(ctx: click.Context, include_replayed: bool) -> int:
    """List them."""
    from sessionctl.inspect import list_dead_letters

    use_stack(ctx)
    return list_dead_letters(include_replayed=include_replayed)


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
