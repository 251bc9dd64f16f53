"""What the commands share: the state directory, the running stack, time values, output.

Output rules, so that people and scripts both get what they need:

- results go to stdout, progress and errors to stderr;
- lists are Rich tables on a terminal and tab-separated lines otherwise (pipes,
  ``grep``, ``cut``), and every list command has ``--json`` for scripts;
- a user-caused error is one line naming what to fix (see ``sessionctl.cli.main``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console

DEFAULT_STATE_DIR = ".sessionctl"

# The card colours of seed 003, the same words in the terminal as in the report.
CARD_STYLES = {"blue": "bold blue", "white": "bold white", "gray": "bright_black"}


def stdout() -> Console:
    """A console on the current stdout (looked up per call, so captured output works)."""
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


def stderr() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def state_dir(ctx: click.Context) -> Path:
    """``--state-dir``, else ``SESSIONCTL_STATE_DIR``, else ``.sessionctl``."""
    root = ctx.find_root()
    value = (root.params or {}).get("state_dir") if root else None
    return Path(value or os.environ.get("SESSIONCTL_STATE_DIR") or DEFAULT_STATE_DIR)


@contextmanager
def harness() -> Iterator[None]:
    """Around an import of the development harness (``devstack``), which only a source
    checkout has: the installed package does not ship it, so say so in one line."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "devstack":
            raise
        raise click.ClickException(
            "this command needs the development harness (the devstack package), which the "
            "installed sessionctl does not ship; run it from a source checkout after `make setup`"
        ) from None


def deployed_target(ctx: click.Context):
    """The environment named by ``--env``/``--outputs``/``--project``, or None (local stack)."""
    from sessionctl import target

    root = ctx.find_root()
    params = (root.params or {}) if root else {}
    chosen = [o for o in ("env", "outputs", "project") if params.get(o)]
    if len(chosen) > 1:
        raise click.UsageError(f"give one of --env, --outputs, --project (got {', '.join(chosen)})")
    try:
        if params.get("env"):
            return target.from_environment(params["env"])
        if params.get("outputs"):
            return target.from_file(params["outputs"])
        if params.get("project"):
            return target.from_project(params["project"])
    except target.TargetError as exc:
        raise click.ClickException(str(exc)) from None
    return None


def use_target(ctx: click.Context, *, deployed_only: bool = False):
    """The deployed environment asked for (settings pointed at it), else the local stack's."""
    from sessionctl import target

    deployed = deployed_target(ctx)
    if deployed is None:
        if deployed_only:
            raise click.UsageError(
                "this command needs a deployed environment: sessionctl --env NAME "
                "(or --outputs FILE, or --project ID) ..."
            )
        stack = use_stack(ctx)
        env = stack.env()
        deployed = target.Deployed(
            name="local stack",
            project=stack.project,
            topics=dict(stack.topics),
            bucket=stack.bucket,
            finalize_delay_seconds=int(env.get("FINALIZE_DELAY_SECONDS", "900")),
            crm_kind=env.get("CRM__KIND", "none"),
            webhook=bool(env.get("WEBHOOK_URL")),
        )
        return deployed
    try:
        return target.activate(deployed)
    except target.TargetError as exc:
        raise click.ClickException(str(exc)) from None


def use_stack(ctx: click.Context):
    """Point this process's clients and settings at the deployed environment, else the local stack.

    With ``--env``/``--outputs``/``--project`` the same commands reach a project
    (Application Default Credentials) or, with the ``*_EMULATOR_HOST`` variables set,
    emulators standing in for one; no local stack file is read then.
    """
    deployed = deployed_target(ctx)
    if deployed is not None:  # needs no development harness
        return use_target(ctx)
    with harness():
        from devstack.local_stack import StackError, load_stack

    try:
        stack = load_stack(state_dir(ctx))
    except StackError as exc:
        raise click.ClickException(str(exc)) from None
    os.environ.update(stack.env())
    return stack


class IsoDateTime(click.ParamType):
    """An RFC 3339 date-time; one written without an offset is taken as UTC."""

    name = "ISO"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            self.fail(f"{value!r}: {exc} (write e.g. 2023-09-11T10:30:00+03:00)", param, ctx)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


ISO = IsoDateTime()

json_option = click.option(
    "--json", "as_json", is_flag=True, help="print JSON for scripts instead of text"
)


def print_json(data: Any) -> None:
    """One JSON document on stdout (dates as RFC 3339)."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def interactive() -> bool:
    """Whether stdout is a person's terminal (tables, colours) or a pipe (plain lines)."""
    return sys.stdout.isatty()


@contextmanager
def progress(description: str) -> Iterator[Callable[[int, int | None], None]]:
    """A progress bar on stderr while a person watches; silent in pipes, logs and CI.

    Yields ``update(done, total)``; ``total`` may be ``None`` while unknown.
    """
    if not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=stderr(), transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def table(title: str, columns: list[str], rows: list[list[Any]], styles: list[str] | None = None):
    """A Rich table on stdout (for a person at a terminal)."""
    from rich.table import Table

    out = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        out.add_column(column, overflow="fold")
    for index, row in enumerate(rows):
        style = styles[index] if styles else None
        out.add_row(*("" if v is None else str(v) for v in row), style=style)
    stdout().print(out)


@contextmanager
def user_errors(*kinds: type[BaseException]) -> Iterator[None]:
    """Turn the named exceptions into one-line ``sessionctl: error:`` messages."""
    try:
        yield
    except kinds as exc:
        raise click.ClickException(str(exc)) from None
