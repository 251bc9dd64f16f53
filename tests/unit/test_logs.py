"""One logging setup: every module's lines, ours and the CRM adapters', are JSON for Cloud Logging."""

from __future__ import annotations

import json
import subprocess
import sys

PROGRAM = """
import logging
from shared.logs import get_logger, log
log(get_logger("ingest"), logging.ERROR, "rejected", reason="not_json")
logging.getLogger("shared.adapters.crm.zendesk").warning("throttled for %s s", 30)
logging.getLogger("shared.adapters.crm.zendesk").debug("not at INFO")
get_logger("finalize")  # asking again adds no second handler
logging.getLogger("shared.adapters.crm.kustomer").info("record %s created", "r1")
"""


def test_every_logger_writes_one_json_line_per_record_on_stdout() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True
    )
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines == [
        {
            "severity": "ERROR",
            "message": "rejected",
            "logger": "pipeline.ingest",
            "reason": "not_json",
        },
        {
            "severity": "WARNING",
            "message": "throttled for 30 s",
            "logger": "shared.adapters.crm.zendesk",
        },
        {
            "severity": "INFO",
            "message": "record r1 created",
            "logger": "shared.adapters.crm.kustomer",
        },
    ]
    assert done.stderr == ""
