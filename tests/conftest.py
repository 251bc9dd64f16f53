"""Shared fixtures: local emulator stacks for the integration and end-to-end tests.

Stacks are session-scoped because starting two JVMs costs seconds; tests keep
apart by clearing Firestore (``fresh_firestore``) and by using unique names.
Nothing is skipped when the emulators cannot start: the fixture error is the
signal that the machine is not set up (``make setup``, gcloud emulators).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest

from devstack.local_stack import Stack, clear_firestore, start_stack, stop_stack
from shared.config import get_settings

_previous_sigterm: Any = None  # what SIGTERM did before pytest_configure


def pytest_configure(config: pytest.Config) -> None:
    """Turn SIGTERM into KeyboardInterrupt so session teardown still stops the stacks.

    The emulators run in their own process groups and would outlive a killed test
    run (a CI timeout sends SIGTERM); an interrupt lets the fixtures' finally run.
    """
    global _previous_sigterm

    def _interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        _previous_sigterm = signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread (embedded pytest): leave signals alone
        _previous_sigterm = None


def pytest_unconfigure(config: pytest.Config) -> None:
    if _previous_sigterm is not None:
        signal.signal(signal.SIGTERM, _previous_sigterm)


def _set_environ(values: dict[str, str]) -> dict[str, str | None]:
    """Apply ``values`` to os.environ and return what to put back."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    return saved


def _restore_environ(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Firestore, Pub/Sub and Cloud Storage emulators; os.environ points at them.

    The settings cache is cleared on the way in and out, so code calling
    ``get_settings()`` sees this stack's project, bucket and topics.
    """
    state_dir = tmp_path_factory.mktemp("emulators")
    stack = start_stack(state_dir, functions=False, crm_sink=False)
    saved: dict[str, str | None] = {}
    try:
        saved = _set_environ(stack.env())
        get_settings.cache_clear()
        yield stack
    finally:
        _restore_environ(saved)
        get_settings.cache_clear()
        stop_stack(state_dir)


@pytest.fixture(scope="session")
def e2e_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole pipeline: emulators, the three functions behind push subscriptions, CRM sink.

    It does not touch os.environ; tests build clients from ``e2e_stack.env()``.
    A 900 s finalize delay keeps the scheduler path honest: tests move time with
    ticks that carry ``now`` (ALLOW_TICK_NOW is on locally).
    """
    state_dir = tmp_path_factory.mktemp("e2e")
    stack = start_stack(state_dir, extra_env={"FINALIZE_DELAY_SECONDS": "900"})
    try:
        yield stack
    finally:
        stop_stack(state_dir)


@pytest.fixture
def fresh_firestore(emulators: Stack) -> Stack:
    """An empty Firestore emulator for this test (not autouse: only tests that need it)."""
    clear_firestore(emulators)
    return emulators
