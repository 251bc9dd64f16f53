"""Pointing sessionctl at a deployed environment: names agree with Terraform, errors say the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sessionctl import target
from sessionctl.cli import main as sessionctl
from tests.terraform import checks

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "terraform/modules/session-pipeline"


def _module() -> checks.Module:
    (module,) = [m for m in checks.load(REPO / "terraform") if m.dir == MODULE]
    return module


def test_the_triggers_are_terraforms() -> None:
    triggers = _module().locals["triggers"]
    assert {k: (v["topic"], v["function"]) for k, v in triggers.items()} == target.TRIGGERS


def test_project_names_are_terraforms_defaults() -> None:
    deployed = target.from_project("acme-prod")
    topics = _module().variables["topic_names"]["type"]
    for name in deployed.topics.values():
        assert f'"{name}"' in str(topics)
    hold = deployed.holds["ingest_events"]
    assert (hold.subscription, hold.topic) == (
        "session-events-ingest-dead-letter-hold",
        "session-events",
    )
    pubsub = (MODULE / "pubsub.tf").read_text()
    assert (
        'name                       = "${local.subscriptions[each.key]}-dead-letter-hold"' in pubsub
    )
    assert deployed.bucket == "acme-prod-session-files"
    assert '"${var.project_id}-${local.prefix}session-files"' in (MODULE / "storage.tf").read_text()


def test_outputs_give_every_setting_the_commands_read(tmp_path: Path) -> None:
    operator = {
        "environment": "prod",
        "project_id": "acme-prod",
        "firestore_database": "(default)",
        "bucket": "acme-prod-p-session-files",
        "object_prefix": "sessions/",
        "collections": {"sessions": "sessions", "quarantine": "quarantine", "crm_records": "r"},
        "topics": {"events": "p-session-events", "ticks": "p-finalize-ticks"},
        "finalize_delay": 600,
        "holds": {"ingest_events": {"subscription": "h", "topic": "p-session-events"}},
        "crm": {"kind": "zendesk", "webhook": False},
    }
    path = tmp_path / "operator.json"
    path.write_text(json.dumps({"sensitive": False, "type": [], "value": operator}))
    deployed = target.from_file(path)
    env = deployed.env()
    assert env["PROJECT_ID"] == env["GOOGLE_CLOUD_PROJECT"] == "acme-prod"
    assert env["EVENTS_TOPIC"] == "p-session-events" and env["OBJECT_PREFIX"] == "sessions/"
    assert env["CRM_RECORDS_COLLECTION"] == "r" and env["FINALIZE_DELAY_SECONDS"] == "600"
    assert deployed.crm_configured is True
    assert deployed.holds["ingest_events"].subscription == "h"


def test_outputs_of_an_older_deployment_name_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "operator.json"
    path.write_text(json.dumps({"project_id": "p"}))
    with pytest.raises(target.TargetError, match="apply the current terraform"):
        target.from_file(path)


def test_an_unknown_environment_lists_the_known_ones(capsys) -> None:
    assert sessionctl(["--env", "qa", "status"]) == 1
    err = capsys.readouterr().err
    assert "no environment 'qa'" in err and "dev, prod, staging" in err


def test_one_target_at_a_time(capsys) -> None:
    assert sessionctl(["--env", "dev", "--project", "p", "status"]) == 2
    assert "give one of --env, --outputs, --project" in capsys.readouterr().err


def test_missing_credentials_name_the_fix(monkeypatch, capsys, tmp_path: Path) -> None:
    for name in target.EMULATOR_HOSTS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "none.json"))
    assert sessionctl(["--project", "acme", "status"]) == 1
    assert "gcloud auth application-default login" in capsys.readouterr().err
