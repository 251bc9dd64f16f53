"""Helpers for the end-to-end tests: point this process at a stack, wait for effects."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from shared import bootstrap
from shared.config import get_settings


def reset_clients() -> None:
    get_settings.cache_clear()
    for cached in (
        bootstrap.firestore_client,
        bootstrap.files,
        bootstrap.publisher,
        bootstrap.webhook,
        bootstrap.crm_deps,
    ):
        cached.cache_clear()


@contextmanager
def using(stack) -> Iterator[None]:
    """Clients and settings of this process talk to ``stack`` inside the block."""
    saved = dict(os.environ)
    os.environ.update(stack.env())
    reset_clients()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_clients()


def wait_for(what: str, check: Callable[[], object], timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)
