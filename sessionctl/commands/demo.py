"""``sessionctl demo``: the whole path on the local emulators."""

from __future__ import annotations

from pathlib import Path

import click

from sessionctl.commands.common import harness, state_dir


@click.command("demo")
@click.option("--seed", type=int, default=7, show_default=True, help="simulator seed")
@click.option("--sessions", type=int, default=60, show_default=True, help="sessions to simulate")
@click.option("--out", default="demo-output", show_default=True, help="where the files go")
@click.pass_context
def demo(ctx: click.Context, seed: int, sessions: int, out: str) -> int:
    """The whole path on the local emulators."""
    with harness():
        from devstack.demo import run_demo

    return run_demo(state_dir=state_dir(ctx), out_dir=Path(out), seed=seed, sessions=sessions)


def register(cli: click.Group) -> None:
    cli.add_command(demo)
