"""Loaded by every Python process of a chaos function instance (its dir is on PYTHONPATH).

Why here and not in the pipeline: the faults below belong to the harness. Production code
keeps no switch for them.

* ``CHAOS_CLOCK_SKEW_SECONDS``: this instance's wall clock runs that far ahead (or behind,
  when negative). Every module of ``shared`` that reads the clock with
  ``datetime.now(...)`` in ``shared.adapters`` and ``shared.service`` sees the skew (claims, leases, CRM patience, received times);
  ``datetime`` values themselves stay ordinary.
* ``CHAOS_BUG``: a deliberate bug, to show that the chaos run catches it:
  ``no_generation_precondition`` makes every Cloud Storage write unconditional.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import os
import pkgutil
import sys

_SKEW = float(os.environ.get("CHAOS_CLOCK_SKEW_SECONDS") or 0)
_BUG = os.environ.get("CHAOS_BUG", "")


class _SkewedDatetime(_dt.datetime):
    """``datetime`` whose ``now()`` is off by the skew; what it returns is a plain datetime."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        return _dt.datetime.now(tz) + _dt.timedelta(seconds=_SKEW)


def _modules(package: str):
    try:
        root = importlib.import_module(package)
    except Exception:  # noqa: BLE001 - a harness must not stop the function from starting
        return
    yield root
    for info in pkgutil.walk_packages(getattr(root, "__path__", []), prefix=f"{package}."):
        try:
            yield importlib.import_module(info.name)
        except Exception:  # noqa: BLE001
            continue


def _skew_clocks() -> None:
    """Swap the ``datetime`` name in our modules (the class itself is immutable)."""
    for package in ("shared.adapters", "shared.service"):  # the edges; the core takes times
        for module in _modules(package):
            if getattr(module, "datetime", None) is _dt.datetime:
                module.datetime = _SkewedDatetime


def _break_generation_precondition() -> None:
    from shared.adapters import gcs_files

    original = gcs_files.GcsFiles.write

    def write(self, name, data, *, if_generation_match):  # noqa: ANN001
        return original(self, name, data, if_generation_match=None)

    gcs_files.GcsFiles.write = write


if _SKEW or _BUG:
    sys.path.insert(0, os.getcwd())
    if _SKEW:
        _skew_clocks()
    if _BUG == "no_generation_precondition":
        _break_generation_precondition()
    elif _BUG:
        raise SystemExit(f"CHAOS_BUG={_BUG!r} is unknown; known: no_generation_precondition")
