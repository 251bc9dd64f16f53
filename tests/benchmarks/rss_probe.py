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
    """This process's own peak RSS (KiB): ``VmHWM``, not ``ru_maxrss``.

    Linux keeps ``ru_maxrss`` across ``fork`` and ``execve``: a probe started by the bench
    reported the bench process's RSS at the time it was started (measured: a child of a
    321 MB parent read 321,100 KiB of ``ru_maxrss`` and 13,640 KiB of ``VmHWM``), so P6
    compared the harness's memory after seeding 100 and 10,000 sessions. ``VmHWM`` is the
    high-water mark of the address space ``execve`` gave this process.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # not Linux: best effort


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
