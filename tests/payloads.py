"""Canonical payloads: the CloudEvents the functions receive, kept as JSON in tests/events/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parent / "events"


def load_event(name: str) -> dict[str, Any]:
    """``tests/events/<name>.json``: one CloudEvent in structured mode."""
    doc: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    return doc
