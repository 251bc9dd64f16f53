"""A fresh process that finalizes like one finalizer instance, then prints its peak RSS.

Run by the P6 figure: ``python -m tests.benchmarks.rss_probe SETTINGS_JSON`` with the
emulators' variables in the environment. The last line of stdout is JSON.
"""

from __future__ import annotations

import json
import resource
import sys

from shared.config import Settings
from tests.benchmarks import drive


def _peak_kb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main(argv: list[str]) -> int:
    settings = Settings(**json.loads(argv[0]))
    bench = drive.bench_from(settings)
    phases = {"clients": _peak_kb()}
    outcomes = drive.finalize_probe(
        bench, drive.DUE_NOW, on_dispatched=lambda: phases.update(dispatched=_peak_kb())
    )
    phases["worked"] = _peak_kb()
    print(
        json.dumps(
            {"maxrss_kb": phases["worked"], "peak_kb_by_phase": phases, "outcomes": dict(outcomes)}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
