"""Launch-once-per-event: names kept, behaviour not provided (it needs a queryable control plane)."""

from __future__ import annotations

from typing import Any, NamedTuple

DUPE_LABEL_KEY = "dedupe"
"""The run label that would carry the dedupe key."""


class RunOnceResult(NamedTuple):
    """The run covering a dedupe key, and whether this call launched it."""

    run: Any
    created: bool


def _not_provided(name: str) -> NotImplementedError:
    from flyte.extras import NotProvidedError

    return NotProvidedError(
        f"flyte.extras.webhooks.{name} is not provided: it deduplicates launches by finding runs that "
        f"carry the {DUPE_LABEL_KEY!r} label on the anchor's control plane (flyte.remote.Run.listall with "
        "labels), and this SDK's local runtime does not record or query run labels. Deduplicate on "
        "event.dedupe_key() in your own store before calling flyte.run."
    )


class _Unprovided:
    """A callable with an ``.aio`` twin, both raising the explanation (as the anchor's are syncified)."""

    def __init__(self, name: str) -> None:
        self.__name__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_provided(self.__name__)

    async def aio(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_provided(self.__name__)


run_once = _Unprovided("run_once")
blocking_run = _Unprovided("blocking_run")
