"""The provider contract and the verification helpers every provider shares."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from flyte.extras.webhooks._event import SignatureError, WebhookEvent

VerifyFn = Callable[[bytes, Mapping[str, str], str], bool]
"""``(raw body, headers, secret) -> authentic?``; must return False, never raise, on bad input."""
ParseFn = Callable[[Mapping[str, str], bytes], WebhookEvent]
"""``(headers, raw body) -> WebhookEvent`` for a verified delivery."""
HandshakeFn = Callable[[Mapping[str, str], bytes], "dict[str, Any] | None"]
"""``(headers, raw body) -> reply or None``: a setup challenge answered before verification."""


@dataclass(frozen=True)
class Provider:
    """One product's webhooks: its route name, secret env var, verifier, parser and optional handshake."""

    default_secret_env: ClassVar[str] = ""

    name: str
    secret_env: str
    verify: VerifyFn
    parse: ParseFn
    handshake: HandshakeFn | None = None
    signed: bool = True
    setup_hint: str = ""


def constant_time_equals(a: str, b: str) -> bool:
    """Compare two credentials in constant time; never raises, even on non-ASCII header text."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def hex_hmac_sha256(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of a raw body under ``secret`` (the common signing scheme)."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers with lower-case names (HTTP header names are case-insensitive)."""
    return {k.lower(): v for k, v in headers.items()}


def json_body(body: bytes) -> dict[str, Any]:
    """A JSON body as a dict (a non-object is wrapped as ``{"data": ...}``); SignatureError if not JSON."""
    if not body:
        return {}
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SignatureError(f"invalid webhook body: {exc}") from exc
    return data if isinstance(data, dict) else {"data": data}
