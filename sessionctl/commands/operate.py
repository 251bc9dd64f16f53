"""``sessionctl status``, ``sessionctl smoke`` and ``sessionctl holds ...``: a deployed environment.

Point them at one with ``--env NAME`` (Terraform outputs), ``--outputs FILE`` or
``--project ID`` before the command; see ``sessionctl.target``. They also run on the
local stack, whose emulators stand in for a project.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from sessionctl.commands.common import (
    interactive,
    json_option,
    print_json,
    stderr,
    stdout,
    use_target,
    user_errors,
)


@contextmanager
def _progress(title: str) -> Iterator:
    """A spinner on a terminal, plain lines on stderr otherwise; yields ``update(text)``."""
    if interactive():
        with stderr().status(title) as spinner:
            yield lambda text: spinner.update(f"{title}: {text}")
    else:
        yield lambda text: click.echo(f"{title}: {text}", err=True)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@click.command("status")
@json_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> int:
    """The backlog: due sessions, oldest due age, live finalize claims, parked CRM jobs, dead letters.

    \b
    due sessions      sessions whose files are owed now (pending, due time passed)
    oldest due        how long the oldest of them has waited past its due time
    finalize claims   sessions a finalizer is writing now, and until when its claim holds
    parked CRM jobs   CRM jobs waiting for their session (count, oldest age)
    CRM dead letters  CRM jobs refused for good, not replayed (sessionctl crm dead-letters)
    quarantined       rejected platform messages, not replayed (sessionctl quarantine list)
    dead-letter holds messages each trigger gave up on (sessionctl holds list)

    Exit code 0 whatever the backlog; use --json for scripts and alerts.
    """
    from sessionctl import operate

    target = use_target(ctx, deployed_only=False)
    with _progress("status") as update, user_errors(LookupError):
        report = operate.status(target, progress=update)
    if as_json:
        print_json(report.as_dict())
        return 0
    out = stdout()
    out.print(
        f"{getattr(target, 'label', 'local stack')} at {report.now.isoformat(timespec='seconds')}"
    )
    out.print(f"due sessions       {report.due_sessions}")
    out.print(f"oldest due         {_age(report.oldest_due_age_s)}")
    claims = ", ".join(
        f"{sid} until {until.isoformat(timespec='seconds')}" for sid, until in report.claims
    )
    out.print(f"finalize claims    {len(report.claims)}{': ' + claims if claims else ''}")
    if report.parked_jobs is None:
        out.print("parked CRM jobs    - (this deployment keeps none)")
    else:
        out.print(
            f"parked CRM jobs    {report.parked_jobs} (oldest {_age(report.oldest_parked_age_s)})"
        )
    out.print(f"CRM dead letters   {report.crm_dead_letters}")
    out.print(f"quarantined        {report.quarantined}")
    for key, count in report.holds.items():
        shown = f"{count}+" if count >= operate.PEEK_LIMIT else str(count)
        out.print(f"dead-letter hold   {key:<16} {shown}")
    return 0


@click.command("smoke")
@click.option(
    "--timeout", type=float, default=300, show_default=True, help="seconds to wait in all"
)
@click.option(
    "--tick/--no-tick",
    default=True,
    show_default=True,
    help="publish a tick once the events are stored, or wait for the scheduler's",
)
@click.option(
    "--crm/--no-crm",
    "expect_crm",
    default=None,
    help="wait for the CRM record or webhook post (default: when the environment has a CRM)",
)
@click.option("--keep", is_flag=True, help="leave the smoke session's file and state behind")
@click.pass_context
def smoke(
    ctx: click.Context, timeout: float, tick: bool, expect_crm: bool | None, keep: bool
) -> int:
    """Check a deployed environment end to end with one synthetic session.

    \b
    1. publishes a short valid session (smoke-<time>-<random>) to the events topic,
       ended finalize_delay + 1 minute ago, so it is due at the next tick;
    2. waits until ingest stored it (fails at once if it was quarantined);
    3. once the session is due, publishes a tick (again every 20 s; --no-tick: relies
       on Cloud Scheduler's) and waits for its metadata file in the bucket;
    4. waits for its CRM record (or webhook delivery) when the environment has a CRM;
    5. prints where they are, then deletes the file and the session's state
       (--keep leaves them; a record made in an external CRM stays there).

    The last step of a deployment (cloudbuild.yaml); exit code 1 on any missing effect.
    """
    from sessionctl import operate

    target = use_target(ctx, deployed_only=False)
    with _progress("smoke") as update, user_errors(RuntimeError, LookupError):
        result = operate.smoke(
            target,
            tick=tick,
            expect_crm=expect_crm,
            timeout=timeout,
            clean=not keep,
            progress=update,
        )
    click.echo(f"smoke session {result.session_id}: {len(result.message_ids)} events ingested")
    click.echo(f"  file        {result.file}")
    if result.datastream:
        click.echo(f"  datastream  {result.datastream}")
    click.echo(f"  crm         {result.crm or 'not checked (no CRM in this environment)'}")
    if result.cleaned:
        click.echo(f"  cleaned up  {len(result.cleaned)} objects and documents")
    click.echo("smoke test passed")
    return 0


# --------------------------------------------------------------------------- holds


@click.group("holds")
def holds() -> None:
    """Pub/Sub dead-letter holds: messages a trigger gave up on (list, republish, purge).

    Each trigger (ingest_events, finalize_ticks, crm_finalized, crm_crm_jobs) has a
    dead-letter topic whose *-dead-letter-hold subscription keeps what its function
    failed on max_delivery_attempts times, for 7 days.
    """


def _hold(target, trigger: str):
    hold = target.holds.get(trigger)
    if hold is None:
        known = ", ".join(sorted(target.holds)) or "none"
        raise click.BadParameter(f"no trigger {trigger!r} (have: {known})", param_hint="TRIGGER")
    return hold


@holds.command("list")
@click.argument("trigger", required=False)
@click.option("--limit", type=int, default=20, show_default=True, help="letters per hold")
@json_option
@click.pass_context
def holds_list(ctx: click.Context, trigger: str | None, limit: int, as_json: bool) -> int:
    """The letters waiting (all holds, or TRIGGER's); they stay in the hold."""
    from sessionctl import operate

    target = use_target(ctx, deployed_only=True)
    chosen = (
        [_hold(target, trigger)] if trigger else [target.holds[k] for k in sorted(target.holds)]
    )
    found = {}
    with _progress("holds") as update, user_errors(LookupError):
        for hold in chosen:
            update(f"reading {hold.subscription}")
            found[hold.trigger] = operate.peek(target, hold, limit=limit)
    if as_json:
        print_json(
            {
                key: [
                    {
                        "message_id": letter.message_id,
                        "published": letter.published,
                        "attempts": letter.attempts,
                        "attributes": letter.attributes,
                        "data": letter.data,
                    }
                    for letter in letters
                ]
                for key, letters in found.items()
            }
        )
        return 0
    for key, letters in found.items():
        hold = target.holds[key]
        click.echo(f"{key}: {len(letters)} in {hold.subscription} (back to {hold.topic})")
        for letter in letters:
            published = letter.published.isoformat(timespec="seconds") if letter.published else "-"
            click.echo(f"  {letter.message_id}\t{published}\t{letter.summary()}")
    return 0


@holds.command("republish")
@click.argument("trigger")
@click.option("--limit", type=int, help="at most this many (default: all)")
@click.pass_context
def holds_republish(ctx: click.Context, trigger: str, limit: int | None) -> int:
    """Publish TRIGGER's letters again to their topic, once the cause is fixed.

    Each letter is acknowledged only after it was published again, so an interrupted
    run loses nothing (a letter may be published twice: the functions are idempotent).
    """
    from sessionctl import operate

    target = use_target(ctx, deployed_only=True)
    hold = _hold(target, trigger)
    with _progress("republish") as update, user_errors(LookupError):
        done = operate.republish(target, hold, limit=limit, progress=update)
    for old, new in done:
        click.echo(f"{old} -> {new}")
    click.echo(f"republished {len(done)} message(s) from {hold.subscription} to {hold.topic}")
    return 0


@holds.command("purge")
@click.argument("trigger")
@click.option("--yes", is_flag=True, help="do not ask (needed when not at a terminal)")
@click.pass_context
def holds_purge(ctx: click.Context, trigger: str, yes: bool) -> int:
    """Delete TRIGGER's letters for good (asks first)."""
    import sys

    from sessionctl import operate

    target = use_target(ctx, deployed_only=True)
    hold = _hold(target, trigger)
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("purge deletes messages for good: add --yes to confirm")
        waiting = len(operate.peek(target, hold, limit=operate.PEEK_LIMIT))
        shown = f"{waiting}+" if waiting >= operate.PEEK_LIMIT else str(waiting)
        click.confirm(f"Delete the {shown} message(s) in {hold.subscription} for good?", abort=True)
    with _progress("purge") as update, user_errors(LookupError):
        purged = operate.purge(target, hold, progress=update)
    click.echo(f"purged {purged} message(s) from {hold.subscription}")
    return 0


def register(cli: click.Group) -> None:
    cli.add_command(status)
    cli.add_command(smoke)
    cli.add_command(holds)
