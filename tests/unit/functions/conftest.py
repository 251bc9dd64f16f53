"""Each function as the runtime serves it: functions-framework's app, fed a CloudEvent.

The adapters the entry point would build are replaced by the in-memory fakes, so the
contract (which payload is acknowledged with 200, which is retried with 500) is
checked without emulators.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from flask.testing import FlaskClient

from shared import bootstrap
from shared.config import get_settings
from tests.fakes import FakeEvents, FakeFiles, FakePublisher, FakeSchedule, FakeTicks
from tests.payloads import load_event

FUNCTIONS = Path(__file__).resolve().parents[3] / "functions"


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings read from this test's environment, and forgotten afterwards."""
    monkeypatch.delenv("FUNCTION_TARGET", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def fake_ports(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The finalizer's ports as in-memory fakes, put where ``bootstrap`` hands them out."""
    fakes: dict[str, Any] = {
        "events": FakeEvents(),
        "schedule": FakeSchedule(),
        "files": FakeFiles(),
        "publisher": FakePublisher(),
        "ticks": FakeTicks(),
    }
    return handed_out(monkeypatch, fakes)


def handed_out(monkeypatch: pytest.MonkeyPatch, fakes: dict[str, Any]) -> dict[str, Any]:
    """Put each fake where ``bootstrap`` hands that port out; the fakes, to look at."""
    for name, fake in fakes.items():
        monkeypatch.setattr(bootstrap, name, lambda fake=fake: fake)
    return fakes


@pytest.fixture
def client() -> Callable[[str], FlaskClient]:
    def make(name: str) -> FlaskClient:
        app = functions_framework.create_app(name, str(FUNCTIONS / name / "main.py"), "cloudevent")
        return app.test_client()

    return make


def deliver(client: FlaskClient, event: str) -> Any:
    """POST ``tests/events/<event>.json`` as a structured CloudEvent."""
    return client.post(
        "/",
        json=load_event(event),
        headers={"Content-Type": "application/cloudevents+json"},
    )
