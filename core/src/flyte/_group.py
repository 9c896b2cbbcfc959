"""``flyte.group`` and ``flyte.custom_context``: labels and key/values that children inherit."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

from flyte._context import current_action


@contextmanager
def group(name: str) -> Iterator[None]:
    """Actions started inside this block are shown together under ``name``."""
    from flyte._validate import check_str

    check_str("flyte.group", "name", name, nonempty=True)
    ac = current_action.get()
    if ac is None:
        yield
        return
    token = current_action.set(dataclasses.replace(ac, group=name))
    try:
        yield
    finally:
        current_action.reset(token)


@contextmanager
def custom_context(**context: str) -> Iterator[None]:
    """Key/values visible to this task and every task it calls (``flyte.ctx().custom_context``)."""
    from flyte._validate import check_str_map

    check_str_map("flyte.custom_context", "context", context)
    ac = current_action.get()
    if ac is None:
        yield
        return
    token = current_action.set(dataclasses.replace(ac, custom={**ac.custom, **context}))
    try:
        yield
    finally:
        current_action.reset(token)


def get_custom_context() -> dict[str, str]:
    ac = current_action.get()
    return {} if ac is None else dict(ac.custom)
