"""What time a finalizer tick stands for."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from shared.config import Settings
from shared.domain.events import parse_timestamp
from shared.logs import get_logger, log

logger = get_logger("tick")


def tick_time(data: bytes, settings: Settings, *, clock=lambda: datetime.now(UTC)) -> datetime:
    """The tick's ``now`` when configuration allows it, else the clock's."""
    try:
        body = json.loads(data or b"{}")
    except json.JSONDecodeError:
        body = {}
    carried = body.get("now") if isinstance(body, dict) else None
    if carried is None:
        return clock()
    if not settings.allow_tick_now:
        log(logger, logging.WARNING, "tick carried 'now' but ALLOW_TICK_NOW is off; ignored")
        return clock()
    return parse_timestamp(carried)
