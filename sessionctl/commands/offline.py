"""Commands that need no stack: ``replay``, ``stage``, ``schema``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from sessionctl.commands.common import ISO, progress


@click.command("replay")
@click.argument("events", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="folder for the files")
@click.option("--now", type=ISO, help="the time the files stand at (default: now)")
@click.option(
    "--finalize-delay",
    type=click.IntRange(min=0),
    metavar="SECONDS",
    help="delay after the end before writing (default: FINALIZE_DELAY_SECONDS)",
)
def replay(events: Path, out: Path, now: datetime | None, finalize_delay: int | None) -> int:
    """Compute the files from a JSONL file, offline."""
    from sessionctl.replay import run
    from shared.config import load_settings

    delay = None if finalize_delay is None else timedelta(seconds=finalize_delay)
    with progress(f"reading {events.name}") as update:
        return run(
            events,
            out,
            now=now or datetime.now(UTC),
            settings=load_settings(),
            delay=delay,
            progress=update,
        )


@click.command("stage")
@click.option("--out", default="build/functions", show_default=True, help="output directory")
@click.option("--no-zip", is_flag=True, help="stage directories only")
@click.argument("names", nargs=-1)
def stage(out: str, no_zip: bool, names: tuple[str, ...]) -> int:
    """Stage each function's deployable source."""
    from sessionctl.stage import main

    return main(["--out", out, *(["--no-zip"] if no_zip else []), *names])


@click.command("schema")
@click.option("--out", default="schemas", show_default=True, help="output directory")
@click.option("--check", is_flag=True, help="only report stale files (exit 1 if any)")
def schema(out: str, check: bool) -> int:
    """Write the JSON Schemas of both files."""
    from sessionctl.schema import main

    return main(["--out", out, *(["--check"] if check else [])])


def register(cli: click.Group) -> None:
    cli.add_command(replay)
    cli.add_command(stage)
    cli.add_command(schema)
