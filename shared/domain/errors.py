"""The two kinds of failure an entry point must tell apart."""

from __future__ import annotations


class PipelineError(Exception):
    """Base of the project's errors."""


class BadInput(PipelineError):
    """Permanent: the message breaks the contract. Keep it, log it, acknowledge it."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class TransientError(PipelineError):
    """Temporary: a dependency failed. Raise so that Pub/Sub redelivers."""
