"""``sessionctl report --stack``: the report of the files in the running stack's bucket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from sessionctl.cli import main as sessionctl
from sessionctl.feed import publish_lines, publish_tick
from shared import bootstrap
from tests.e2e.conftest import using, wait_for
from tests.factory import T0, handled_call, raw
from tests.integration.helpers import unique

pytestmark = pytest.mark.e2e
END = T0 + timedelta(seconds=200)  # handled_call ends 200 s after its start


@pytest.fixture(scope="module", autouse=True)
def stack_env(e2e_stack) -> Iterator[None]:
    with using(e2e_stack):
        yield


def test_the_report_reads_the_files_from_the_running_stack(e2e_stack, tmp_path, capsys):
    script = handled_call(unique("e2e"))
    publish_lines(e2e_stack, [raw(d) for d in script.docs])
    wait_for(
        "events stored",
        lambda: len(bootstrap.events().load_events(script.session_id)) == len(script.docs),
    )
    publish_tick(e2e_stack, END + timedelta(minutes=15))
    name = f"metadata-{script.session_id}.json"
    wait_for("the metadata file", lambda: bootstrap.files().read(name) is not None)
    state_dir = e2e_stack.log_dir.rsplit("/logs", 1)[0]
    out = tmp_path / "html"
    capsys.readouterr()
    assert (
        sessionctl(["--state-dir", state_dir, "report", "--stack", "--out", str(out), "--json"])
        == 0
    )
    written = json.loads(capsys.readouterr().out)
    page = out / "sessions" / f"{script.session_id}.html"
    assert str(page) in written["pages"] and written["index"] == str(out / "index.html")
    html = page.read_text()
    assert "Noam B" in html and 'data-kind="queue"' in html and 'data-kind="end"' in html
    assert f'data-session="{script.session_id}"' in (out / "index.html").read_text()
    # With a folder too, the bucket's files are copied into it first.
    copies = tmp_path / "files"
    argv = ["--state-dir", state_dir, "report", str(copies), "--stack", "--out", str(out)]
    assert sessionctl(argv) == 0
    assert json.loads((copies / name).read_text())["id"] == script.session_id
