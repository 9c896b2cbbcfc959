"""Documentation, Link and AppHandle: small public types the anchor SDK exports at top level."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable


@dataclass
class Documentation:
    """A task's description (``@env.task(docs=...)``); by default taken from its docstring."""

    description: str

    def __post_init__(self) -> None:
        from flyte._validate import check_str

        check_str("Documentation", "description", self.description)

    def __help__str__(self) -> str:
        return self.description


def docs_from(func: Callable[..., Any] | None) -> Documentation:
    """The cleaned docstring of ``func`` as a Documentation (empty when it has none)."""
    text = inspect.getdoc(func) if func is not None else None
    return Documentation(description=text or "")


@runtime_checkable
class Link(Protocol):
    """A link shown next to an action (a dashboard, a log viewer): ``@env.task(links=...)``.

    Implementations have a ``name`` and build the URL from the action's identity.
    """

    name: str
    icon_uri: ClassVar[str | None] = ""

    def get_link(
        self,
        run_name: str,
        project: str,
        domain: str,
        context: dict[str, str],
        parent_action_name: str,
        action_name: str,
        pod_name: str,
        **kwargs: Any,
    ) -> str: ...


@runtime_checkable
class AppHandle(Protocol):
    """What ``flyte.serve`` returns: a served app that can be activated, checked and stopped."""

    @property
    def name(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def endpoint(self) -> str: ...

    def is_active(self) -> bool: ...

    def is_deactivated(self) -> bool: ...

    def activate(self, wait: bool = False) -> AppHandle: ...

    def deactivate(self, wait: bool = False) -> AppHandle: ...

    def ephemeral_ctx(self) -> AbstractAsyncContextManager[Any]: ...

    def ephemeral_ctx_sync(self) -> AbstractContextManager[Any]: ...
