"""``sessionctl``: run, feed and inspect the pipeline, locally or from files.

The commands live in ``sessionctl/commands/``, one module per group, each with a
``register(cli)``; ``COMMAND_MODULES`` below lists them. ``main`` is the console
entry point and what the tests call: it returns the exit code instead of
exiting, and turns every user-caused error into one line on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sessionctl.commands import (
    completion,
    crm,
    demo,
    feed,
    local,
    offline,
    operate,
    quarantine,
    report,
    show,
)
from shared.config import SettingsError

COMMAND_MODULES = (local, feed, offline, demo, show, quarantine, crm, report, operate, completion)


@click.group(
    "sessionctl",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="where the local stack keeps its state (default: $SESSIONCTL_STATE_DIR or .sessionctl)",
)
@click.option(
    "--env",
    metavar="NAME",
    help="act on deployed environment NAME (terraform/environments/NAME outputs) "
    "instead of the local stack; credentials: Application Default Credentials",
)
@click.option(
    "--outputs",
    type=click.Path(dir_okay=False, path_type=Path),
    help="act on the environment described by FILE (`terraform output -json operator`)",
)
@click.option("--project", metavar="ID", help="act on project ID with Terraform's default names")
def cli(state_dir: Path | None, env: str | None, outputs: Path | None, project: str | None) -> None:
    """Run, feed and inspect the pipeline, locally or from files."""


for _module in COMMAND_MODULES:
    _module.register(cli)


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit code (0 ok, 1 failed, 2 bad usage, 130 interrupted)."""
    try:
        result = cli.main(args=argv, prog_name="sessionctl", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()
        return exc.exit_code
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "sessionctl"
        print(f"{where}: error: {exc.format_message()} (see: {where} --help)", file=sys.stderr)
        return exc.exit_code
    except click.ClickException as exc:
        print(f"sessionctl: error: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    except click.exceptions.Abort:
        return 130
    except TimeoutError as exc:
        print(f"sessionctl: error: timed out: {exc}", file=sys.stderr)
        return 1
    except SettingsError as exc:  # a wrong environment variable: one line naming it
        print(f"sessionctl: error: {exc}", file=sys.stderr)
        return 2
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
