"""``sessionctl report``: a static HTML report of session files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from sessionctl.commands.common import ISO, print_json, progress, use_stack


@click.command("report")
@click.argument("source", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="folder for the HTML pages (index.html, sessions/)",
)
@click.option(
    "--stack",
    is_flag=True,
    help="read the files from the running local stack's bucket (and copy them into SOURCE if given)",
)
@click.option(
    "--finalize-delay",
    type=click.IntRange(min=0),
    default=900,
    show_default=True,
    metavar="SECONDS",
    help="the delay the files were written with (places version 1 after the end)",
)
@click.option(
    "--events",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="the events (JSONL) behind the files: sessions with no file yet get a card too",
)
@click.option("--now", type=ISO, help="the time the live cards stand at (default: now)")
@click.option("--json", "as_json", is_flag=True, help="print what was written as JSON")
@click.pass_context
def report(
    ctx: click.Context,
    source: Path | None,
    out: Path,
    stack: bool,
    finalize_delay: int,
    events: Path | None,
    now: datetime | None,
    as_json: bool,
) -> int:
    """Write a static HTML report of the session files in SOURCE, or in the stack's bucket.

    One folder, opened from disk: an index of session cards (filter by type,
    status, colour) and one page per session with its timeline drawn to scale
    beside its data stream.
    """
    from sessionctl.report.build import (
        ReportError,
        live_cards,
        read_bucket,
        read_event_log,
        read_folder,
        write_files,
    )

    if source is None and not stack:
        raise click.UsageError("give a folder of session files (SOURCE), or --stack")
    if source is not None and not stack and not source.is_dir():
        raise click.UsageError(f"{source} is not a folder of session files")
    try:
        if stack:
            from shared import bootstrap

            described = f"the local stack's bucket {use_stack(ctx).bucket}"
            files = read_bucket(bootstrap.files())
            if source is not None:
                write_files(files, source)
                described += f" (copied into {source})"
        else:
            described = str(source)
            files = read_folder(source)
        live = []
        if events:
            from shared.config import load_settings

            live = live_cards(
                read_event_log(events), now=now or datetime.now(UTC), zone=load_settings().zone
            )
        index, model = _build(files, out, timedelta(seconds=finalize_delay), described, live)
    except (ReportError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        print_json(
            {
                "index": str(index),
                "sessions": len(model.sessions),
                "pages": [str(out / "sessions" / f"{v.slug}.html") for v in model.sessions],
                "problems": model.problems,
            }
        )
    else:
        for problem in model.problems:
            click.echo(f"skipped: {problem}", err=True)
        click.echo(f"{len(model.sessions)} sessions: {index}")
    return 0


def _build(files, out: Path, delay: timedelta, described: str, live):
    from sessionctl.report.build import build_report

    with progress("writing pages") as update:
        return build_report(
            files, out, finalize_delay=delay, source=described, progress=update, live=live
        )


def register(cli: click.Group) -> None:
    cli.add_command(report)
