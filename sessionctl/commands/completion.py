"""``sessionctl completion SHELL``: the shell completion script to source."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ["bash", "zsh", "fish"]


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> int:
    """Print the completion script for SHELL.

    \b
    bash:  eval "$(sessionctl completion bash)"   (or put it in ~/.bashrc)
    zsh:   eval "$(sessionctl completion zsh)"
    fish:  sessionctl completion fish | source
    """
    root = ctx.find_root().command
    cls = get_completion_class(shell)
    assert cls is not None  # every name in SHELLS has a class
    script = cls(root, {}, "sessionctl", "_SESSIONCTL_COMPLETE").source()
    click.echo(script)
    return 0


def register(cli: click.Group) -> None:
    cli.add_command(completion)
