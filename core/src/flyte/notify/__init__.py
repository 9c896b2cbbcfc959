"""Notifications: tell a person or a service when a run reaches a phase (succeeded, failed, ...).

Attach them with ``flyte.with_runcontext(notifications=...)`` or ``flyte.Trigger(notifications=...)``.
Locally they are delivered when the run ends (``flyte._notify.deliver``): webhooks and Slack/Teams
messages over HTTP, email over SMTP. Every delivery attempt is recorded with the run; a URL, header
or SMTP password given as a ``flyte.Secret`` is read from the environment at delivery time and is
never written to the journal, the logs or ``flyte serialize``.

Message templates take ``{{.Run.Name}}``, ``{{.Run.Project}}``, ``{{.Run.Domain}}``, ``{{.Phase}}``
and ``{{.Error}}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from flyte._run import ActionPhase
from flyte._secret import Secret
from flyte.errors import InvalidParameterError

__all__ = ["Email", "NamedDelivery", "NamedRule", "Notification", "Slack", "Teams", "Webhook"]

SUPPORTED_PHASES = (ActionPhase.SUCCEEDED, ActionPhase.FAILED, ActionPhase.ABORTED, ActionPhase.TIMED_OUT)
_METHODS = ("POST", "PUT", "PATCH", "GET", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT")
_PHASE_HINT = "Use flyte.models.ActionPhase.SUCCEEDED, FAILED, ABORTED or TIMED_OUT (or a tuple of them)."

SecretOrStr = str | Secret


def _phase(owner: str, value: Any) -> ActionPhase:
    if isinstance(value, str) and not isinstance(value, ActionPhase):
        try:
            value = ActionPhase(value.lower())
        except ValueError:
            raise InvalidParameterError(owner, "on_phase", value, _PHASE_HINT) from None
    if value not in SUPPORTED_PHASES:
        raise InvalidParameterError(owner, "on_phase", value, _PHASE_HINT)
    return ActionPhase(value)


def _text_or_secret(owner: str, name: str, value: Any, example: str) -> None:
    if isinstance(value, Secret):
        return
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameterError(
            owner, name, value, f"Use a non-empty string or a flyte.Secret, e.g. {example}."
        )


def _strings(owner: str, name: str, value: Any, required: bool) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) and "@" in v for v in items):
        raise InvalidParameterError(
            owner, name, value, "Use a list of email addresses, e.g. ['oncall@example.com']."
        )
    if required and not items:
        raise InvalidParameterError(owner, name, value, "Give at least one recipient.")
    return tuple(items)


def secret_ref(value: Any) -> Any:
    """JSON-able form of a value that may be a secret: a secret is named, never resolved."""
    if isinstance(value, Secret):
        return {"secret": value.to_dict()}
    return value


REDACTED = "<not recorded: give it as a flyte.Secret>"
_SENSITIVE_HEADER = re.compile(r"authorization|cookie|key|token|secret|passw", re.IGNORECASE)


def _header_ref(name: str, value: Any) -> Any:
    """A header that carries a credential in plain text is not recorded (nor serialised)."""
    if isinstance(value, str) and _SENSITIVE_HEADER.search(name):
        return REDACTED
    return secret_ref(value)


@dataclass(frozen=True)
class NamedRule:
    """A notification rule configured on a Flyte backend, referenced by name (not delivered locally)."""

    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidParameterError(
                "NamedRule", "name", self.name, "Name the configured rule, e.g. 'oncall'."
            )

    def to_dict(self) -> dict[str, Any]:
        return {"type": "named_rule", "name": self.name}


@dataclass(frozen=True, kw_only=True)
class Notification:
    """The phases that fire a notification; the subclasses say where it goes."""

    on_phase: ActionPhase | tuple[ActionPhase, ...]

    def __post_init__(self) -> None:
        owner = type(self).__name__
        raw = self.on_phase
        items = (raw,) if isinstance(raw, (str, ActionPhase)) else raw
        if not isinstance(items, (list, tuple)) or not items:
            raise InvalidParameterError(owner, "on_phase", raw, _PHASE_HINT)
        object.__setattr__(self, "on_phase", tuple(_phase(owner, p) for p in items))

    @property
    def phases(self) -> tuple[ActionPhase, ...]:
        value = self.on_phase
        return value if isinstance(value, tuple) else (value,)

    @property
    def kind(self) -> str:
        return type(self).__name__.lower()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (task spec, journal): secrets by name only."""
        out: dict[str, Any] = {"type": self.kind, "on_phase": [p.value for p in self.phases]}
        for f in fields(self):
            if f.name == "on_phase":
                continue
            value = getattr(self, f.name)
            if f.name == "headers" and isinstance(value, Mapping):
                value = {k: _header_ref(k, v) for k, v in value.items()}
            elif isinstance(value, Mapping):
                value = {k: secret_ref(v) for k, v in value.items()}
            elif isinstance(value, tuple):
                value = [secret_ref(v) for v in value]
            out[f.name] = secret_ref(value)
        return out


@dataclass(frozen=True, kw_only=True)
class NamedDelivery(Notification):
    """A delivery channel configured on a Flyte backend, by name (not delivered locally)."""

    name: str

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidParameterError("NamedDelivery", "name", self.name, "Name the configured channel.")

    @property
    def kind(self) -> str:
        return "named_delivery"


_EMAIL_BODY = (
    "Run: {{.Run.Name}}\nProject/Domain: {{.Run.Project}}/{{.Run.Domain}}\n"
    "Phase: {{.Phase}}\nError: {{.Error}}\n"
)


@dataclass(frozen=True, kw_only=True)
class Email(Notification):
    """An email over SMTP. ``smtp_*`` and ``sender`` are this SDK's (the anchor's backend has its
    own mail service): ``smtp_password`` should be a ``flyte.Secret``."""

    recipients: tuple[str, ...]
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    subject: str = "Run {{.Run.Name}} {{.Phase}}"
    body: str = _EMAIL_BODY
    html_body: str | None = None
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: Secret | None = None
    smtp_starttls: bool = False
    sender: str = "flyte@localhost"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "recipients", _strings("Email", "recipients", self.recipients, True))
        object.__setattr__(self, "cc", _strings("Email", "cc", self.cc, False))
        object.__setattr__(self, "bcc", _strings("Email", "bcc", self.bcc, False))
        port = self.smtp_port
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidParameterError("Email", "smtp_port", port, "Use a TCP port number, e.g. 25 or 587.")
        if not isinstance(self.smtp_host, str) or not self.smtp_host:
            raise InvalidParameterError(
                "Email", "smtp_host", self.smtp_host, "Use a host name, e.g. 'localhost'."
            )
        if self.smtp_password is not None:
            if not isinstance(self.smtp_password, Secret):
                raise InvalidParameterError(
                    "Email",
                    "smtp_password",
                    "***",
                    "Use flyte.Secret('smtp-password') (read from the environment when sending): a "
                    "password written in code would be recorded with the task and the run.",
                )
            if self.smtp_user is None:
                raise InvalidParameterError(
                    "Email", "smtp_user", None, "Set smtp_user when smtp_password is given."
                )


@dataclass(frozen=True, kw_only=True)
class Slack(Notification):
    """A Slack incoming-webhook message: ``{"text": message}``, or ``{"blocks": blocks}``."""

    webhook_url: SecretOrStr
    message: str | None = None
    blocks: tuple[dict[str, Any], ...] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _text_or_secret("Slack", "webhook_url", self.webhook_url, "flyte.Secret('slack-webhook')")
        if self.blocks is not None:
            if not isinstance(self.blocks, (list, tuple)) or not all(
                isinstance(b, dict) for b in self.blocks
            ):
                raise InvalidParameterError("Slack", "blocks", self.blocks, "Use a list of Block Kit dicts.")
            object.__setattr__(self, "blocks", tuple(self.blocks))
        if self.message is None and self.blocks is None:
            text = "Run: {{.Run.Name}} finished with phase {{.Phase}}\n | {{.Run.Project}}/{{.Run.Domain}}\n"
            object.__setattr__(self, "message", text)


@dataclass(frozen=True, kw_only=True)
class Teams(Notification):
    """A Microsoft Teams webhook message: ``{"title", "text"}``, or an Adaptive Card ``card``."""

    webhook_url: SecretOrStr
    title: str = "Run {{.Run.Name}} {{.Phase}}"
    message: str | None = None
    card: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _text_or_secret("Teams", "webhook_url", self.webhook_url, "flyte.Secret('teams-webhook')")
        if self.card is not None and not isinstance(self.card, dict):
            raise InvalidParameterError("Teams", "card", self.card, "Use an Adaptive Card dict or None.")
        if self.message is None and self.card is None:
            object.__setattr__(self, "message", _EMAIL_BODY)


@dataclass(frozen=True, kw_only=True)
class Webhook(Notification):
    """An HTTP request with a JSON body (string values are templates) and optional headers."""

    url: SecretOrStr
    method: str = "POST"
    headers: dict[str, SecretOrStr] | None = None
    body: dict[str, Any] | None = field(default=None)

    def __post_init__(self) -> None:
        super().__post_init__()
        _text_or_secret("Webhook", "url", self.url, "'http://127.0.0.1:8080/hook'")
        if isinstance(self.url, str) and not self.url.startswith(("http://", "https://", "{{")):
            raise InvalidParameterError("Webhook", "url", self.url, "Use an http:// or https:// URL.")
        if self.method not in _METHODS:
            raise InvalidParameterError(
                "Webhook", "method", self.method, f"Use one of {', '.join(_METHODS)}."
            )
        if self.headers is not None:
            if not isinstance(self.headers, Mapping):
                raise InvalidParameterError(
                    "Webhook", "headers", self.headers, "Use a dict of header: value."
                )
            for k, v in self.headers.items():
                _text_or_secret("Webhook", f"headers[{k!r}]", v, "flyte.Secret('api-token')")
        if self.body is not None and not isinstance(self.body, dict):
            raise InvalidParameterError("Webhook", "body", self.body, "Use a JSON-able dict or None.")
        if self.body is None:
            default = {
                "run": "{{.Run.Name}}",
                "project": "{{.Run.Project}}",
                "domain": "{{.Run.Domain}}",
                "phase": "{{.Phase}}",
                "error": "{{.Error}}",
            }
            object.__setattr__(self, "body", default)


def normalize_notifications(value: Any, owner: str) -> tuple[Notification | NamedRule, ...]:
    """``notifications=``: one notification, a NamedRule, or a sequence of notifications."""
    if value is None:
        return ()
    if isinstance(value, (Notification, NamedRule)):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(v, Notification) for v in value):
        return tuple(value)
    raise InvalidParameterError(
        owner,
        "notifications",
        value,
        "Use a flyte.notify.Email/Slack/Teams/Webhook(...), a tuple of them, or a flyte.notify.NamedRule.",
    )


def notifications_to_dicts(items: tuple[Notification | NamedRule, ...]) -> list[dict[str, Any]]:
    return [n.to_dict() for n in items]
