"""Entry point of flyte-plugin-ray: registers the ``ray`` executor. Imports nothing heavy."""

from __future__ import annotations

from typing import Any

from flyte.extend import hookimpl


def _make(address: str = "ray", **_: Any) -> Any:
    from flyteplugins.ray._executor import RayExecutor

    return RayExecutor(address)


@hookimpl
def flyte_register_executors(registry: Any) -> None:
    registry.add("ray", _make)
