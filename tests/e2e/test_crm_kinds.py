"""Every CRM client on its real HTTP path, end to end: one stack per CRM (and e-mail delivery).

A handled call published through Pub/Sub gets its record in the look-alike CRM when the
agent is assigned; the finalized file carries the record's id and is delivered to it.
"""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from devstack.local_stack import start_stack, stop_stack
from sessionctl.feed import publish_lines, publish_tick
from shared import bootstrap
from tests.e2e.conftest import using, wait_for
from tests.factory import T0, handled_call, raw
from tests.integration.helpers import unique

pytestmark = pytest.mark.e2e
END = T0 + timedelta(seconds=200)

CASES = {
    "salesforce": {"CRM__KIND": "salesforce"},
    "freshdesk": {"CRM__KIND": "freshdesk", "CRM__SESSION_TYPE_TAGS": "true"},
    "kustomer": {"CRM__KIND": "kustomer", "CRM__PLATFORM_TAG": "true"},
    "zendesk-by-email": {"CRM__KIND": "zendesk", "CRM__FILE_DELIVERY": "email"},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_handled_call_gets_one_record_and_its_file(case, tmp_path):
    settings = CASES[case]
    kind = settings["CRM__KIND"]
    stack = start_stack(tmp_path / "stack", extra_env=settings)
    try:
        with using(stack):
            script = handled_call(unique(kind))
            key = f"ccaip-{script.session_id}"
            publish_lines(stack, [raw(d) for d in script.docs])

            def crm_records() -> str:
                url = f"{stack.fake_crm_url}/_admin/records?crm={kind}"
                return json.dumps(httpx.get(url, timeout=10).json())

            wait_for(f"{kind} record", lambda: key in crm_records())
            publish_tick(stack, END + timedelta(minutes=15))
            records = bootstrap.crm_records()
            wait_for("file delivered", lambda: records.get(script.session_id).attached_version)
            stored = bootstrap.files().read(f"metadata-{script.session_id}.json")
            doc = json.loads(stored.data)
            record = records.get(script.session_id)
            assert doc["out_ticket_id"] == record.record_id and doc["out_ticket_url"]
            assert crm_records().count(f'"{key}"') >= 1
            if settings.get("CRM__FILE_DELIVERY") == "email":
                emails = httpx.get(f"{stack.fake_crm_url}/_admin/emails", timeout=10).json()
                subjects = [m.get("subject", "") for m in emails["emails"]]
                assert any(record.record_id in subject for subject in subjects), subjects
    finally:
        stop_stack(tmp_path / "stack")
