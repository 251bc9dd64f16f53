"""``sessionctl show``: the session card of a session on the local stack."""

from __future__ import annotations

import click

from sessionctl.commands.common import use_stack


@click.command("show")
@click.argument("session_id")
@click.pass_context
def show(ctx: click.Context, session_id: str) -> int:
    """The session card of a session on the local stack."""
    from sessionctl.inspect import show_session

    use_stack(ctx)
    return show_session(session_id)


def register(cli: click.Group) -> None:
    cli.add_command(show)
