"""Benchmarks count billable operations on the wire (see counting.py) from the start."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.benchmarks import counting


@pytest.fixture(scope="session", autouse=True)
def count_operations() -> Iterator[counting.Counter]:
    """Installed before any client exists, so every emulator channel is counted."""
    counting.install()
    try:
        yield counting.COUNTER
    finally:
        counting.uninstall()
