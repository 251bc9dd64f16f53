"""``sessionctl local up|down``: the local stack of emulators and functions."""

from __future__ import annotations

import click

from sessionctl.commands.common import harness, json_option, print_json, state_dir, user_errors
from shared.config import check_settings

CRM_KINDS = ["none", "zendesk", "salesforce", "freshdesk", "kustomer"]


def _setting(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict:
    pairs = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE (e.g. --env TIMEZONE=UTC)")
        pairs[name] = value
    return pairs


@click.group("local")
def local() -> None:
    """The local stack of emulators and functions."""


@local.command("up")
@click.option("--crm", type=click.Choice(CRM_KINDS), help="the CRM the crm function posts to")
@click.option(
    "--env",
    "settings",
    multiple=True,
    metavar="NAME=VALUE",
    callback=_setting,
    help="a setting, repeatable",
)
@json_option
@click.pass_context
def up(ctx: click.Context, crm: str | None, settings: dict, as_json: bool) -> int:
    """Start it."""
    with harness():
        from devstack.local_stack import StackError, start_stack

    extra = dict(settings)
    if crm:
        extra.setdefault("CRM__KIND", crm)
    check_settings(extra)  # a wrong setting: one line now, not a function that dies later
    with user_errors(StackError):
        stack = start_stack(state_dir(ctx), extra_env=extra)
    env_file = state_dir(ctx) / "stack.env"
    if as_json:
        print_json(
            {
                "functions": stack.function_urls,
                "firestore": stack.firestore_host,
                "pubsub": stack.pubsub_host,
                "storage": stack.storage_host,
                "bucket": stack.bucket,
                "crm_sink": stack.crm_sink_url,
                "lookalike_crms": stack.fake_crm_url,
                "crm": stack.env().get("CRM__KIND", "none"),
                "settings_file": env_file,
            }
        )
        return 0
    click.echo("Local stack is up:")
    for name, url in sorted(stack.function_urls.items()):
        click.echo(f"  function {name:<9} {url}")
    click.echo(f"  firestore          {stack.firestore_host}")
    click.echo(f"  pubsub             {stack.pubsub_host}")
    click.echo(f"  storage            {stack.storage_host} (bucket {stack.bucket})")
    click.echo(f"  crm sink           {stack.crm_sink_url} (webhook posts)")
    click.echo(
        f"  look-alike CRMs    {stack.fake_crm_url}/{{zendesk,salesforce,freshdesk,kustomer}}"
    )
    click.echo(f"  CRM in use         {stack.env().get('CRM__KIND', 'none')}")
    click.echo(f"Settings: {env_file}  (use them with: source {env_file})")
    click.echo("Next: sessionctl publish EVENTS.jsonl; sessionctl tick; sessionctl local down")
    return 0


@local.command("down")
@click.pass_context
def down(ctx: click.Context) -> int:
    """Stop it."""
    with harness():
        from devstack.local_stack import StackError, stop_stack

    with user_errors(StackError):
        stop_stack(state_dir(ctx))
    click.echo("Local stack is down.")
    return 0


def register(cli: click.Group) -> None:
    cli.add_command(local)
