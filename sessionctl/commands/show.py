"""``sessionctl show``: the session card of a session on the local stack."""

from __future__ import annotations

import click

from sessionctl.commands.common import (
    CARD_STYLES,
    interactive,
    json_option,
    print_json,
    stdout,
    use_stack,
)


@click.command("show")
@click.argument("session_id")
@json_option
@click.pass_context
def show(ctx: click.Context, session_id: str, as_json: bool) -> int:
    """The session card of a session on the local stack."""
    from datetime import UTC, datetime

    from sessionctl.inspect import show_session
    from shared import bootstrap
    from shared.config import get_settings
    from shared.domain.card import build_card
    from shared.domain.session import reduce_session

    use_stack(ctx)
    if not (as_json or interactive()):
        return show_session(session_id)  # plain lines for pipes and logs
    events = bootstrap.events().load_events(session_id)
    if not events:
        raise click.ClickException(f"no events for session {session_id} on the local stack")
    state = reduce_session(session_id, events)
    card = build_card(state, now=datetime.now(UTC), zone=get_settings().zone)
    if as_json:
        print_json(card.model_dump(mode="json"))
    else:
        _print_card(card)
    return 0


def _print_card(card) -> None:
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    from shared.domain.card import render_card

    style = CARD_STYLES[card.colour]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column()
    head = render_card(card).splitlines()
    grid.add_row("colour", f"[{style}]{card.colour}[/]  {card.meaning}")
    for line in head[2:3]:
        grid.add_row("", line.strip())
    for step in card.journey:
        grid.add_row(f"{step.at:%H:%M:%S}", step.label)
    if card.fields_left_out:  # payload fields of an unexpected shape, left out of the file
        grid.add_row("left out", f"{len(card.fields_left_out)} field(s) of an unexpected shape")
        for item in card.fields_left_out:
            grid.add_row("", escape(item))
    title = f"[{style}]■ {card.colour.upper()}[/]  {card.icon}  {card.title}  {head[0].rsplit(' ', 1)[-1]}"
    stdout().print(Panel(grid, title=title, title_align="left", border_style=style))


def register(cli: click.Group) -> None:
    cli.add_command(show)
