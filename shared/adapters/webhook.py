"""The generic CRM webhook: a signed JSON POST with an idempotency key.

The receiver checks ``X-Signature-SHA256`` (hex HMAC-SHA256 of the raw body
with the shared secret) and de-duplicates on ``Idempotency-Key``
(``{session_id}:{version}``): redeliveries of one notice carry the same key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from shared.crm.errors import WebhookRejected
from shared.domain.errors import TransientError

__all__ = ["WebhookClient", "WebhookRejected", "sign"]


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookClient:
    def __init__(self, http: httpx.Client, url: str, secret: str) -> None:
        self._http = http
        self._url = url
        self._secret = secret

    def post(self, payload: dict[str, Any], *, idempotency_key: str) -> int:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
            "X-Signature-SHA256": sign(self._secret, body),
        }
        try:
            response = self._http.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TransientError(f"webhook unreachable: {type(exc).__name__}") from exc
        status = response.status_code
        if status in (408, 429) or status >= 500:
            raise TransientError(f"webhook answered {status}; retry later")
        if status >= 400:
            raise WebhookRejected(f"webhook answered {status}: {response.text[:200]}")
        return status
