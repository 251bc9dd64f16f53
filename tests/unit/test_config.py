"""Settings: a wrong one stops a command or a function at start, in one line naming it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sessionctl.cli import main
from shared.config import SettingsError, check_settings, load_settings, zone_of

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2023, 9, 11, 6, 42, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "offset"),
    [
        ("UTC", timedelta(0)),
        ("Z", timedelta(0)),
        ("Europe/Istanbul", timedelta(hours=3)),
        ("+03:00", timedelta(hours=3)),
        ("-04:30", timedelta(hours=-4, minutes=-30)),
        ("+0530", timedelta(hours=5, minutes=30)),
        ("UTC+03:00", timedelta(hours=3)),
    ],
)
def test_a_time_zone_is_an_iana_name_utc_or_a_fixed_offset(name, offset):
    assert AT.astimezone(zone_of(name)).utcoffset() == offset


def test_a_fixed_offset_has_no_daylight_saving_time():
    summer, winter = datetime(2023, 7, 1, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC)
    fixed = zone_of("+01:00")
    assert summer.astimezone(fixed).utcoffset() == winter.astimezone(fixed).utcoffset()
    paris = ZoneInfo("Europe/Paris")
    assert summer.astimezone(paris).utcoffset() != winter.astimezone(paris).utcoffset()


@pytest.mark.parametrize("name", ["Mars/Olympus", "+25:00", "+03:75", "", "../etc/passwd", "3"])
def test_anything_else_is_not_a_time_zone(name):
    with pytest.raises(ValueError, match="time zone|UTC offset"):
        zone_of(name)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TIMEZONE", "+03:99"),
        ("FINALIZE_DELAY_SECONDS", "-1"),
        ("STUCK_TIMEOUT_SECONDS", "a day"),
        ("ALLOW_TICK_NOW", "perhaps"),
        ("CRM__KIND", "zendex"),
    ],
)
def test_a_wrong_setting_is_one_line_naming_its_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message and f"{variable}: " in message


def test_a_secret_is_never_echoed(monkeypatch):
    monkeypatch.setenv("CRM__ZENDESK__API_TOKEN", "s3cr3t")
    monkeypatch.setenv("CRM__ZENDESK__END_USER_FIELD_ID", "not-a-number")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "CRM__ZENDESK__END_USER_FIELD_ID" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


def test_check_settings_leaves_the_environment_as_it_was():
    before = dict(os.environ)
    with pytest.raises(SettingsError):
        check_settings({"TIMEZONE": "Nowhere/Else"})
    check_settings({"TIMEZONE": "+03:00"})
    assert dict(os.environ) == before


def test_local_up_refuses_a_wrong_setting_before_starting_anything(tmp_path, capsys):
    code = main(["--state-dir", str(tmp_path), "local", "up", "--env", "TIMEZONE=+3"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "TIMEZONE: '+3' is not a time zone" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("function", ["ingest", "finalize", "crm"])
def test_a_function_with_a_wrong_setting_stops_at_start_with_one_line(function):
    env = {**os.environ, "TIMEZONE": "Mars/Olympus", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "functions" / function / "main.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and done.stderr == ""
    [line] = done.stdout.splitlines()
    entry = json.loads(line)
    assert entry["severity"] == "CRITICAL" and entry["message"].startswith("bad setting: TIMEZONE:")
