"""Receive SaaS webhooks (GitHub, Slack, ...) in an app and react to them.

- ``Provider``: what one product needs: the env var holding its secret, how to verify a delivery,
  how to parse it into a ``WebhookEvent``, and an optional setup handshake.
- ``WebhookEvent``: the normalized event handlers see, with ``qualified_type`` and ``dedupe_key()``.
- ``EventType``: base for a provider's event constants (plain strings on the wire).
- ``WebhookAppEnvironment``: an ``AppEnvironment`` whose ASGI app (no FastAPI needed) answers
  ``POST {webhook_prefix}/{provider}``, verifies, parses and dispatches to ``on_event`` handlers.
- verification helpers: ``hex_hmac_sha256``, ``constant_time_equals``, ``lower_headers``, ``json_body``.
- ``run_once``/``blocking_run``: not provided, they need run labels queryable on a control plane.
"""

from __future__ import annotations

from flyte.extras.webhooks._app import EventHandler, WebhookAppEnvironment
from flyte.extras.webhooks._event import EventType, SignatureError, WebhookEvent, WebhookPluginError
from flyte.extras.webhooks._provider import (
    HandshakeFn,
    ParseFn,
    Provider,
    VerifyFn,
    constant_time_equals,
    hex_hmac_sha256,
    json_body,
    lower_headers,
)
from flyte.extras.webhooks._run_once import DUPE_LABEL_KEY, RunOnceResult, blocking_run, run_once

__all__ = [
    "DUPE_LABEL_KEY",
    "EventHandler",
    "EventType",
    "HandshakeFn",
    "ParseFn",
    "Provider",
    "RunOnceResult",
    "SignatureError",
    "VerifyFn",
    "WebhookAppEnvironment",
    "WebhookEvent",
    "WebhookPluginError",
    "blocking_run",
    "constant_time_equals",
    "hex_hmac_sha256",
    "json_body",
    "lower_headers",
    "run_once",
]
