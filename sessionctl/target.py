"""Where sessionctl's commands act: a deployed environment, named or given by flags.

One of these points the commands at a project instead of the local stack:

* ``--env NAME``: the ``operator`` output of ``terraform/environments/NAME`` (read with
  ``terraform output -json operator``; the environment's state must be reachable);
* ``--outputs FILE``: the same output saved as JSON (what Cloud Build hands the smoke step);
* ``--project ID``: the names Terraform gives by default (no prefix), in project ID.

Credentials are Application Default Credentials (``gcloud auth application-default
login`` for a person, the service account in Cloud Build). The Google client libraries
also honour ``FIRESTORE_EMULATOR_HOST``, ``PUBSUB_EMULATOR_HOST`` and
``STORAGE_EMULATOR_HOST``: with them set, the same commands and the same code reach
emulators instead (that is how the tests run them), and no credentials are needed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
EMULATOR_HOSTS = ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST")

# trigger key -> (topic key, function): terraform/modules/session-pipeline/main.tf
# local.triggers; each trigger's dead letters wait in <topic>-<function>-dead-letter-hold.
TRIGGERS: dict[str, tuple[str, str]] = {
    "crm_crm_jobs": ("crm_jobs", "crm"),
    "crm_finalized": ("finalized", "crm"),
    "finalize_ticks": ("ticks", "finalize"),
    "finalize_worker_jobs": ("finalize_jobs", "finalize_worker"),
    "ingest_events": ("events", "ingest"),
}

# Settings field (env name) <- collection key of the operator output.
_COLLECTION_SETTINGS = {
    "SESSIONS_COLLECTION": "sessions",
    "QUARANTINE_COLLECTION": "quarantine",
    "CRM_COLLECTION": "crm_deliveries",
    "CRM_RECORDS_COLLECTION": "crm_records",
    "CRM_DEAD_LETTERS_COLLECTION": "crm_dead_letters",
}
_TOPIC_SETTINGS = {
    "FINALIZE_JOBS_TOPIC": "finalize_jobs",
    "EVENTS_TOPIC": "events",
    "TICKS_TOPIC": "ticks",
    "FINALIZED_TOPIC": "finalized",
    "CRM_JOBS_TOPIC": "crm_jobs",
}


class TargetError(RuntimeError):
    """The environment cannot be found or reached as asked; the message names the fix."""


@dataclass(frozen=True)
class Hold:
    """One dead-letter hold: the subscription keeping the letters, the topic they came from."""

    trigger: str
    subscription: str
    topic: str


@dataclass
class Deployed:
    """A deployed environment (or emulators standing in for one), as the commands need it.

    ``project`` and ``topics`` have the same meaning as on the local stack, so the
    commands that publish work on either.
    """

    project: str
    topics: dict[str, str]
    bucket: str
    name: str = ""
    database: str = "(default)"
    object_prefix: str = ""
    collections: dict[str, str] = field(default_factory=dict)
    holds: dict[str, Hold] = field(default_factory=dict)
    finalize_delay_seconds: int = 900
    crm_kind: str | None = None  # None: not known (flags only)
    webhook: bool | None = None

    @property
    def label(self) -> str:
        where = "emulators" if emulated() else "project"
        return f"{self.name or 'environment'} ({where} {self.project})"

    @property
    def crm_configured(self) -> bool | None:
        """Whether a finalized session gets a CRM record or webhook post; None if unknown."""
        if self.crm_kind is None and self.webhook is None:
            return None
        return (self.crm_kind or "none") != "none" or bool(self.webhook)

    def env(self) -> dict[str, str]:
        """The settings every shared adapter reads (shared.config.Settings), for this target."""
        env = {
            "PROJECT_ID": self.project,
            "GOOGLE_CLOUD_PROJECT": self.project,
            "FIRESTORE_DATABASE": self.database,
            "BUCKET": self.bucket,
            "OBJECT_PREFIX": self.object_prefix,
            "FINALIZE_DELAY_SECONDS": str(self.finalize_delay_seconds),
        }
        for name, key in _COLLECTION_SETTINGS.items():
            if key in self.collections:
                env[name] = self.collections[key]
        for name, key in _TOPIC_SETTINGS.items():
            if key in self.topics:
                env[name] = self.topics[key]
        return env


def emulated() -> bool:
    return any(os.environ.get(name) for name in EMULATOR_HOSTS)


def from_outputs(operator: Mapping[str, Any], *, name: str = "") -> Deployed:
    """From the module's ``operator`` output (``terraform output -json operator``)."""
    try:
        holds = {
            key: Hold(key, hold["subscription"], hold["topic"])
            for key, hold in operator.get("holds", {}).items()
        }
        crm = operator.get("crm") or {}
        return Deployed(
            name=name or operator.get("environment", ""),
            project=operator["project_id"],
            database=operator.get("firestore_database", "(default)"),
            bucket=operator["bucket"],
            object_prefix=operator.get("object_prefix", ""),
            collections=dict(operator.get("collections", {})),
            topics=dict(operator["topics"]),
            holds=holds,
            finalize_delay_seconds=int(operator.get("finalize_delay", 900)),
            crm_kind=crm.get("kind"),
            webhook=crm.get("webhook"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TargetError(
            f"the operator output lacks {exc}: apply the current terraform/"
        ) from None


def from_project(project: str) -> Deployed:
    """The names Terraform gives by default (no prefix), which are also the code's defaults."""
    from shared.config import Settings

    def default(name: str) -> Any:  # the class's default, whatever this shell's environment says
        return Settings.model_fields[name].default

    topics = {
        "events": default("events_topic"),
        "ticks": default("ticks_topic"),
        "finalized": default("finalized_topic"),
        "crm_jobs": default("crm_jobs_topic"),
    }
    if "finalize_jobs_topic" in Settings.model_fields:
        topics["finalize_jobs"] = default("finalize_jobs_topic")
    holds = {
        key: Hold(key, f"{topics[topic]}-{function}-dead-letter-hold", topics[topic])
        for key, (topic, function) in TRIGGERS.items()
    }
    return Deployed(
        name=project,
        project=project,
        topics=topics,
        bucket=f"{project}-session-files",
        holds=holds,
        finalize_delay_seconds=default("finalize_delay_seconds"),
    )


def from_file(path: Path) -> Deployed:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TargetError(f"cannot read {path}: {exc}") from None
    return from_outputs(data.get("value", data) if isinstance(data, dict) else {})


def from_environment(name: str, *, repo_root: Path = REPO_ROOT) -> Deployed:
    """``terraform output -json operator`` in ``terraform/environments/NAME``."""
    directory = repo_root / "terraform" / "environments" / name
    if not (directory / "main.tf").is_file():
        known = (
            sorted(p.name for p in directory.parent.iterdir() if (p / "main.tf").is_file())
            if directory.parent.is_dir()
            else []
        )
        raise TargetError(f"no environment {name!r} (have: {', '.join(known) or 'none'})")
    terraform = shutil.which("terraform")
    if terraform is None:
        raise TargetError(
            "terraform is not on PATH (needed to read --env outputs; or use --outputs)"
        )
    done = subprocess.run(
        [terraform, f"-chdir={directory}", "output", "-json", "operator"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise TargetError(
            f"terraform output in {directory} failed ({detail[-1] if detail else 'no output'}): "
            f"run `terraform -chdir={directory} init -backend-config=bucket=STATE_BUCKET` first"
        )
    try:
        return from_outputs(json.loads(done.stdout), name=name)
    except ValueError as exc:
        raise TargetError(f"terraform output in {directory} is not JSON: {exc}") from None


def check_credentials() -> None:
    """Fail with the fix when no Application Default Credentials exist (emulators need none)."""
    if emulated():
        return
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        google.auth.default()
    except DefaultCredentialsError:
        raise TargetError(
            "no Application Default Credentials: run `gcloud auth application-default login`"
        ) from None


def activate(target: Deployed) -> Deployed:
    """Point this process's settings and adapters at ``target``."""
    from shared import bootstrap
    from shared.config import get_settings

    check_credentials()
    os.environ.update(target.env())
    get_settings.cache_clear()
    for cached in ("firestore_client", "files", "publisher", "webhook", "crm_deps"):
        clear = getattr(getattr(bootstrap, cached, None), "cache_clear", None)
        if clear:
            clear()
    return target
