"""One typed settings object, read from the environment.

Every variable the code reads is a field here (the Terraform tests hold the
deployed environment against this list), so nothing else in the project calls
``os.environ`` for configuration. Client libraries still read their own
variables (``FIRESTORE_EMULATOR_HOST``, ``PUBSUB_EMULATOR_HOST``,
``STORAGE_EMULATOR_HOST``); those are theirs, not ours.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import UTC, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.crm.settings import CrmSettings


class Settings(BaseSettings):
    """Pipeline configuration for one environment."""

    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", env_nested_delimiter="__"
    )

    project_id: str = Field("local-project", description="Google Cloud project id")
    firestore_database: str = Field("(default)", description="Firestore database id")
    sessions_collection: str = Field("sessions", description="Firestore collection of sessions")
    quarantine_collection: str = Field(
        "quarantine", description="Firestore collection of rejected messages"
    )
    crm_collection: str = Field("crm_deliveries", description="Firestore collection of CRM work")

    events_topic: str = Field("session-events", description="Topic of platform events")
    ticks_topic: str = Field("finalize-ticks", description="Topic Cloud Scheduler ticks on")
    finalized_topic: str = Field("session-finalized", description="Topic of finalized notices")
    crm_jobs_topic: str = Field("crm-jobs", description="Topic of CRM trigger jobs")
    finalize_jobs_topic: str = Field(
        "finalize-jobs", description="Topic of finalize jobs the tick hands to the workers"
    )

    bucket: str = Field("session-files", description="Bucket of metadata and data-stream files")
    object_prefix: str = Field("", description="Folder prefix of the files, e.g. 'sessions/'")

    finalize_delay_seconds: int = Field(900, ge=0, description="Delay after the end before writing")
    stuck_timeout_seconds: int = Field(
        86_400, ge=60, description="A session with no end event is failed after this"
    )
    finalize_batch_size: int = Field(
        1000, ge=1, le=1000, description="Due sessions the tick reads per query page"
    )
    finalize_job_size: int = Field(
        10, ge=1, le=500, description="Sessions per finalize job (one worker request)"
    )
    finalize_tick_limit: int = Field(
        50_000, ge=1, description="Most sessions one tick hands out (the rest wait a round)"
    )
    finalize_round_lease_seconds: int = Field(
        600, ge=10, description="How long a tick's round of jobs holds off the next dispatch"
    )
    claim_lease_seconds: int = Field(120, ge=10, description="How long a finalizer claim holds")
    state_retention_days: int = Field(
        30, ge=1, description="Days Firestore keeps a session's state after it was due (TTL)"
    )
    allow_tick_now: bool = Field(False, description="Honour a 'now' carried by a tick (local only)")
    timezone: str = Field("UTC", description="Tenant time zone of the file's timestamps")
    include_end_user_contact: bool = Field(
        False, description="Put end-user phone and e-mail in the file"
    )
    include_transcript: bool = Field(
        False, description="Put chat transcripts (message text: personal data) in the file"
    )

    webhook_url: str = Field("", description="Generic CRM webhook URL; empty disables it")
    webhook_secret: SecretStr = Field(SecretStr(""), description="HMAC-SHA256 key of the webhook")
    crm_timeout_seconds: float = Field(10.0, gt=0, description="HTTP timeout towards a CRM")
    crm_calls_per_minute: int = Field(
        0, ge=0, description="CRM calls a minute this instance may make; 0 = no budget"
    )
    crm_records_collection: str = Field(
        "crm_records", description="Firestore collection of CRM records per session"
    )
    crm_dead_letters_collection: str = Field(
        "crm_dead_letters", description="Firestore collection of CRM jobs that failed for good"
    )
    crm: CrmSettings = Field(default_factory=CrmSettings, description="CRM record rules")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone_of(value)  # raises ValueError naming what is accepted
        return value

    @field_validator("object_prefix")
    @classmethod
    def _prefix_is_a_folder(cls, value: str) -> str:
        return value if not value or value.endswith("/") else value + "/"

    @property
    def finalize_delay(self) -> timedelta:
        return timedelta(seconds=self.finalize_delay_seconds)

    @property
    def stuck_timeout(self) -> timedelta:
        return timedelta(seconds=self.stuck_timeout_seconds)

    @property
    def finalize_round_lease(self) -> timedelta:
        return timedelta(seconds=self.finalize_round_lease_seconds)

    @property
    def claim_lease(self) -> timedelta:
        return timedelta(seconds=self.claim_lease_seconds)

    @property
    def retention(self) -> timedelta:
        return timedelta(days=self.state_retention_days)

    @property
    def zone(self) -> tzinfo:
        return zone_of(self.timezone)


FIXED_OFFSET = re.compile(r"^(?:UTC|GMT)?([+-])(\d{2}):?(\d{2})$")


def zone_of(name: str) -> tzinfo:
    """The tenant's time zone: an IANA name (``Europe/Istanbul``), ``UTC``, or a fixed offset.

    A fixed offset (``+03:00``, ``-0430``, ``UTC+03:00``) is a zone without daylight
    saving time: every timestamp of the file carries that offset.
    """
    text = name.strip()
    if text.upper() in ("UTC", "Z", "GMT"):
        return UTC
    fixed = FIXED_OFFSET.match(text)
    if fixed:
        sign, hours, minutes = fixed.groups()
        offset = timedelta(hours=int(hours), minutes=int(minutes))
        if int(minutes) >= 60 or offset >= timedelta(hours=24):
            raise ValueError(f"{name!r} is not a UTC offset (from -23:59 to +23:59)")
        return timezone(-offset if sign == "-" else offset)
    try:
        return ZoneInfo(text)
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(
            f"{name!r} is not a time zone: use an IANA name such as Europe/Istanbul, "
            "UTC, or a fixed offset such as +03:00"
        ) from None


class SettingsError(ValueError):
    """A setting of the environment is wrong: one line naming the variable and the fix."""


def load_settings(**values: Any) -> Settings:
    """The settings from the environment (``values`` override it); ``SettingsError`` if wrong."""
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None


def check_settings(overrides: dict[str, str]) -> None:
    """Raise ``SettingsError`` unless the environment with ``overrides`` (by variable) is right."""
    saved = dict(os.environ)
    try:
        os.environ.update(overrides)
        load_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def describe(exc: ValidationError) -> str:
    """One line: every wrong variable by its environment name, what it holds, what it needs."""
    parts = []
    for error in exc.errors():
        variable = "__".join(str(part) for part in error["loc"]).upper() or "settings"
        message = error["msg"].removeprefix("Value error, ")
        value = error.get("input")
        shown = (
            ""
            if isinstance(value, dict) or "SECRET" in variable or "TOKEN" in variable
            else (f" (got {value!r})" if value is not None and repr(value) not in message else "")
        )
        parts.append(f"{variable}: {message}{shown}")
    return "bad setting: " + "; ".join(parts)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once (``SettingsError`` if one is wrong)."""
    return load_settings()


def settings_at_start() -> Settings:
    """For an entry point's start: the settings, or one log line naming the wrong variable.

    A function instance with a wrong setting must not start and then fail on every
    message with a traceback: it logs one CRITICAL line and exits (status 2).
    """
    try:
        return get_settings()
    except SettingsError as exc:
        from shared.logs import get_logger, log

        log(get_logger("config"), logging.CRITICAL, str(exc), reason="bad_setting")
        raise SystemExit(2) from None
