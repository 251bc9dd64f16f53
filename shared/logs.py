"""One logging setup for every module: JSON lines in the shape Cloud Logging indexes.

``configure_logging`` puts one JSON handler on the root logger, so that every
logger (``get_logger("ingest")``, a CRM adapter's ``logging.getLogger(__name__)``,
the client libraries' own) writes ``severity``/``message`` lines on stdout that
Cloud Logging parses, and nothing is lost to an unconfigured logger. It runs
once, when the first module asks for a logger.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

_HANDLER_NAME = "pipeline-json"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class _StdoutJson(logging.Handler):
    """JSON lines on the current ``sys.stdout`` (looked up per record, so captures see them)."""

    def __init__(self) -> None:
        super().__init__()
        self.set_name(_HANDLER_NAME)
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


def configure_logging(level: int = logging.INFO) -> None:
    """Install the JSON handler on the root logger, once (later calls change nothing)."""
    root = logging.getLogger()
    if any(handler.get_name() == _HANDLER_NAME for handler in root.handlers):
        return
    root.addHandler(_StdoutJson())
    root.setLevel(level)


def get_logger(name: str) -> logging.Logger:
    """The logger ``pipeline.<name>``, with logging configured."""
    configure_logging()
    return logging.getLogger(name if name.startswith("pipeline") else f"pipeline.{name}")


def log(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    """Log ``message`` with structured ``fields`` (session_id, reason, ...)."""
    logger.log(level, message, extra={"fields": fields})
