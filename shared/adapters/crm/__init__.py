"""One client per CRM, chosen by ``CrmSettings.kind``.

The generic webhook (``shared.adapters.webhook``) is built by its own module;
``crm_client`` returns ``None`` for it and for ``kind="none"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.adapters.crm.base import CrmClient, FileTarget, RecordRef, Usage
from shared.adapters.crm.email import EmailFileSender
from shared.adapters.crm.freshdesk import FreshdeskClient
from shared.adapters.crm.kustomer import KustomerClient
from shared.adapters.crm.salesforce import SalesforceClient
from shared.adapters.crm.zendesk import ZendeskClient
from shared.crm.settings import CrmSettings

__all__ = [
    "CrmClient",
    "EmailFileSender",
    "FileTarget",
    "FreshdeskClient",
    "KustomerClient",
    "RecordRef",
    "SalesforceClient",
    "ZendeskClient",
    "crm_client",
    "file_target",
]


def crm_client(
    settings: CrmSettings,
    *,
    timeout: float = 10.0,
    before_request: Callable[[], object] | None = None,
    on_usage: Usage | None = None,
) -> CrmClient | None:
    """The client of the configured CRM (``None`` for ``none`` and ``webhook``).

    ``before_request`` runs before every HTTP request the client sends (the call budget
    waits there), so a method that makes several requests spends several slots;
    ``on_usage`` hears the CRM's usage headers (the budget slows down before the limit).
    """
    hooks = {"request": [lambda request: before_request()]} if before_request else None
    options: dict[str, Any] = {
        "throttle_default": settings.throttle_default_seconds,
        "timeout": timeout,
        "event_hooks": hooks,
        "on_usage": on_usage,
    }
    url = settings.base_url
    if settings.kind == "zendesk":
        return ZendeskClient(url, settings.zendesk, **options)
    if settings.kind == "salesforce":
        return SalesforceClient(url, settings.salesforce, **options)
    if settings.kind == "freshdesk":
        return FreshdeskClient(url, settings.freshdesk, **options)
    if settings.kind == "kustomer":
        return KustomerClient(url, settings.kustomer, **options)
    return None


def file_target(
    settings: CrmSettings, client: FileTarget | None, *, timeout: float = 10.0
) -> FileTarget | None:
    """Where the metadata file goes: the CRM's API, or its e-mail channel."""
    if settings.file_delivery == "email":
        return EmailFileSender(settings.email, timeout=timeout)
    return client
