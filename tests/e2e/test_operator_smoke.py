"""sessionctl on a "deployed environment" played by the whole local pipeline.

The functions run behind push subscriptions as in the cloud; sessionctl reaches them
only through the standard ``*_EMULATOR_HOST`` variables and ``--outputs`` (the
Terraform ``operator`` output), with an empty state directory: no local stack file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from sessionctl import operate
from sessionctl.cli import main as sessionctl
from tests.e2e.conftest import reset_clients, using

pytestmark = pytest.mark.e2e
HOSTS = ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST")


@pytest.fixture
def as_deployed(e2e_stack, tmp_path: Path) -> Iterator[list[str]]:
    """The global options pointing sessionctl at the stack as at a project; a bare environment."""
    env = e2e_stack.env()
    operator = {
        "environment": "e2e",
        "project_id": e2e_stack.project,
        "bucket": e2e_stack.bucket,
        "topics": e2e_stack.topics,
        "finalize_delay": int(env.get("FINALIZE_DELAY_SECONDS", "900")),
        "holds": {},
        "crm": {"kind": env.get("CRM__KIND", "none"), "webhook": bool(env.get("WEBHOOK_URL"))},
    }
    outputs = tmp_path / "operator.json"
    outputs.write_text(json.dumps(operator))
    empty = tmp_path / "no-stack"
    empty.mkdir()
    saved = dict(os.environ)
    for name in set(env) - set(HOSTS):
        os.environ.pop(name, None)
    os.environ.update({h: env[h] for h in HOSTS})
    reset_clients()
    try:
        yield ["--state-dir", str(empty), "--outputs", str(outputs)]
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_clients()


def test_smoke_publishes_waits_for_file_and_crm_then_cleans_up(e2e_stack, as_deployed, capsys):
    code = sessionctl([*as_deployed, "smoke", "--timeout", "240"])
    out, err = capsys.readouterr()
    assert code == 0, err
    session_id = re.search(r"smoke session (smoke-\S+): 3 events ingested", out).group(1)
    assert f"file        gs://{e2e_stack.bucket}/metadata-{session_id}.json" in out
    assert "crm         webhook delivery of version 1" in out
    assert "smoke test passed" in out
    assert "smoke: waiting for" in err, "progress is shown"
    # The CRM side really got it; our side is clean again.
    records = httpx.get(f"{e2e_stack.crm_sink_url}/records", timeout=10).json()
    assert any((r.get("json") or {}).get("session_id") == session_id for r in records)
    with using(e2e_stack):
        from shared import bootstrap

        assert bootstrap.files().read(f"metadata-{session_id}.json") is None
        from sessionctl.probe import local_probe

        assert local_probe().session_doc(session_id) is None
        assert bootstrap.events().load_events(session_id) == []


def test_publish_and_show_reach_the_environment(e2e_stack, as_deployed, capsys, tmp_path):
    session_id = f"op-{datetime.now(UTC):%H%M%S%f}"
    lines = operate.smoke_session(session_id, datetime.now(UTC) - timedelta(minutes=1))
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    code = sessionctl([*as_deployed, "publish", str(events)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"published 3 messages to {e2e_stack.topics['events']}" in out
    assert "ingested: 3 distinct events stored, 0 rejected messages kept" in out
    code = sessionctl([*as_deployed, "show", session_id])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert session_id in out
