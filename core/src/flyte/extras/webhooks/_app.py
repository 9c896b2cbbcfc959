"""An app that receives, verifies and dispatches webhooks, as a plain ASGI app (no FastAPI needed)."""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flyte.app._app_environment import AppEnvironment
from flyte.errors import InvalidParameterError
from flyte.extras.webhooks._event import EventType, WebhookEvent
from flyte.extras.webhooks._provider import Provider

_log = logging.getLogger(__name__)

EventHandler = Callable[[WebhookEvent], Awaitable[Any]]
"""An async handler: receives the event, returns something JSON-serializable for the reply."""

_Reply = tuple[int, Any]


@dataclass(kw_only=True)
class WebhookAppEnvironment(AppEnvironment):
    """An app answering ``POST {webhook_prefix}/{provider}`` for each configured provider.

    Each delivery is handshaked (if the provider has one), verified with the provider's secret
    (read from its ``secret_env``; a ``flyte.Secret`` for it is added to ``secrets``), parsed,
    kept in ``recent_events``, filtered by the ``scopes`` allowlist and passed to every matching
    ``on_event`` handler. ``GET /healthz``, ``/api/status`` and ``/api/events`` report on it. The
    ASGI callable is ``env.app``; ``flyte serve`` runs it like any ``@server`` app.
    """

    app: Any = None
    providers: Sequence[Provider] = ()
    scopes: list[str] = field(default_factory=list)
    webhook_prefix: str = "/webhook"
    require_signature: bool = True
    max_recent_events: int = 200
    event_handlers: list[tuple[str, EventHandler]] = field(default_factory=list)
    recent_events: deque[WebhookEvent] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        owner = f"WebhookAppEnvironment(name={self.name!r})"
        if not self.providers:
            raise InvalidParameterError(
                owner,
                "providers",
                self.providers,
                "Configure at least one Provider, e.g. providers=[GitHubProvider()].",
            )
        bad = [p for p in self.providers if not isinstance(p, Provider)]
        if bad:
            raise InvalidParameterError(
                owner, "providers", bad, "Each entry must be a flyte.extras.webhooks.Provider."
            )
        names = [p.name for p in self.providers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InvalidParameterError(
                owner, "providers", dupes, "Each provider name owns one route: use it once."
            )
        if not self.webhook_prefix.startswith("/") or self.webhook_prefix.endswith("/"):
            raise InvalidParameterError(
                owner, "webhook_prefix", self.webhook_prefix, "Start it with '/' and do not end it with '/'."
            )
        self.secrets = self._with_provider_secrets()
        self.recent_events = deque(maxlen=self.max_recent_events)
        if self.app is None:
            self.app = _ReceiverApp(self)
        super().__post_init__()
        asgi = self.app
        self.server(lambda: asgi)
        from flyte.app import Link

        self.links = [Link(path="/api/status", title="Webhook status", is_relative=True), *self.links]

    def _with_provider_secrets(self) -> list[Any]:
        """The declared secrets plus one per provider whose env var is not declared already."""
        from flyte._secret import Secret

        declared = self.secrets
        items: list[Any] = (
            [] if declared is None else list(declared) if isinstance(declared, list) else [declared]
        )
        mounted = set()
        for s in items:
            env = s if isinstance(s, str) else (getattr(s, "as_env_var", None) or getattr(s, "key", ""))
            mounted.add(str(env).replace("-", "_").upper())
        for p in self.providers:
            if p.secret_env and p.secret_env not in mounted:
                items.append(Secret(key=p.secret_env, as_env_var=p.secret_env))
                mounted.add(p.secret_env)
        return items

    # ---- handlers --------------------------------------------------------------------------------
    def on_event(
        self, event_type: str | type[EventType] = "", *, action: str | None = None
    ) -> Callable[[EventHandler], EventHandler]:
        """Register an async handler for an event type (``""``: every event; an EventType class: its ANY)."""
        if isinstance(event_type, type) and issubclass(event_type, EventType):
            if "ANY" not in event_type.__members__:
                raise ValueError(
                    f"{event_type.__name__} has no ANY member: pass one of its constants instead"
                )
            pattern = event_type.__members__["ANY"].value
        else:
            pattern = str(event_type)
        if action is not None:
            if not pattern:
                raise ValueError(
                    "action= needs an event type to qualify, e.g. on_event('block_actions', action=...)"
                )
            if "." in pattern:
                raise ValueError(f"{pattern!r} already names an action; drop action={action!r}")
            pattern = f"{pattern}.{action.lstrip('/')}"

        def register(fn: EventHandler) -> EventHandler:
            self.event_handlers.append((pattern, fn))
            return fn

        return register

    # ---- receiving --------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """What ``/api/status`` answers: providers, whether their secrets are set, handlers, scopes."""
        return {
            "app": self.name,
            "require_signature": self.require_signature,
            "scopes": list(self.scopes),
            "handlers": [pattern or "*" for pattern, _ in self.event_handlers],
            "recent_event_count": len(self.recent_events),
            "providers": [
                {
                    "name": p.name,
                    "path": f"{self.webhook_prefix}/{p.name}",
                    "secret_env": p.secret_env,
                    "secret_mounted": bool(os.environ.get(p.secret_env)),
                    "signed": p.signed,
                }
                for p in self.providers
            ],
        }

    async def handle(self, provider_name: str, headers: dict[str, str], body: bytes) -> _Reply:
        """Verify, parse and dispatch one delivery; returns the HTTP status and JSON reply."""
        provider = next((p for p in self.providers if p.name == provider_name), None)
        if provider is None:
            known = sorted(p.name for p in self.providers)
            return 404, {
                "detail": f"provider {provider_name!r} is not configured on this app; configured: {known}"
            }
        if provider.handshake is not None:
            answer = provider.handshake(headers, body)
            if answer is not None:
                return 200, answer
        if self.require_signature:
            secret = os.environ.get(provider.secret_env)
            if not secret:
                return 503, {
                    "detail": f"{provider.secret_env} is not set; refusing {provider.name} deliveries. "
                    "Add the secret to this app, or set require_signature=False for local development."
                }
            if not provider.verify(body, headers, secret):
                return 401, {"detail": f"invalid {provider.name} signature"}
        try:
            event = provider.parse(headers, body)
        except Exception as exc:
            return 400, {"detail": f"could not parse {provider.name} webhook: {exc}"}
        self.recent_events.append(event)
        if self.scopes and event.scope not in self.scopes:
            return 200, {"ok": True, "skipped": f"scope {event.scope} not in allowlist"}
        results: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for pattern, handler in self.event_handlers:
            if pattern and pattern not in (event.event_type, event.qualified_type):
                continue
            hname = getattr(handler, "__name__", repr(handler))
            try:
                results[hname] = await handler(event)
            except Exception as exc:  # one failing handler must not hide the others' results
                _log.exception("webhook handler %s failed for %s", hname, event.qualified_type)
                errors[hname] = str(exc)
        return 200, {
            "ok": not errors,
            "provider": event.provider,
            "event": event.qualified_type,
            "resource_id": event.resource_id,
            "handlers_run": list(results),
            "results": results,
            "errors": errors,
        }

    async def asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The ASGI entry point: routes the few paths this app answers."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"].rstrip("/") or "/"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        reply: _Reply
        prefix = self.webhook_prefix + "/"
        if path.startswith(prefix) and "/" not in path[len(prefix) :]:
            if method != "POST":
                reply = (405, {"detail": "deliveries are POSTed"})
            else:
                headers = {
                    k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
                }
                reply = await self.handle(path[len(prefix) :], headers, body)
        elif method == "GET" and path == "/healthz":
            reply = (200, {"status": "healthy"})
        elif method == "GET" and path == "/api/status":
            reply = (200, self.status())
        elif method == "GET" and path == "/api/events":
            reply = (
                200,
                [e.model_dump(mode="json", exclude={"payload"}) for e in reversed(self.recent_events)],
            )
        else:
            reply = (404, {"detail": f"no route for {method} {path}"})
        status, payload = reply
        data = json.dumps(payload, default=str).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})


class _ReceiverApp:
    """The ASGI3 object served for a WebhookAppEnvironment (a class so servers detect ASGI3)."""

    def __init__(self, env: WebhookAppEnvironment) -> None:
        self.env = env

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.env.asgi(scope, receive, send)
