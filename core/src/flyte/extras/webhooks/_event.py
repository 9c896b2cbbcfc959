"""The normalized webhook event, its errors and the base for typed event constants."""

from __future__ import annotations

import enum
import hashlib
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, computed_field


class WebhookPluginError(Exception):
    """Base of the errors the webhook helpers raise."""


class SignatureError(WebhookPluginError):
    """A delivery failed verification or could not be parsed."""


class EventType(enum.StrEnum):
    """Base for a provider's event constants: real strings that print as their wire value."""


class WebhookEvent(BaseModel):
    """One delivery from any provider, in one shape; ``payload`` keeps the provider's JSON as sent."""

    provider: str
    event_type: str
    action: str | None = None
    delivery_id: str = ""
    resource_id: str | None = None
    occurred_at: str | None = None
    scope: str | None = None
    title: str | None = None
    url: str | None = None
    actor: str | None = None
    received_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    payload: dict[str, Any] = Field(default_factory=dict)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def qualified_type(self) -> str:
        """``type.action`` for providers that split the two, else ``type``: what handlers match."""
        return f"{self.event_type}.{self.action}" if self.action else self.event_type

    def dedupe_key(self) -> str:
        """A stable 32-hex-digit key for "the same event": resource and timestamp, else the delivery id."""
        if self.resource_id:
            parts = [self.provider, self.qualified_type, self.resource_id, self.occurred_at or ""]
        else:
            parts = [self.provider, self.qualified_type, self.delivery_id]
        return hashlib.sha256(":".join(parts).encode()).hexdigest()[:32]
