"""The hooks a plugin may implement. All are keyword-only; the marker project name is "flyte"."""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("flyte")
hookimpl = pluggy.HookimplMarker("flyte")


class FlyteHookSpecs:
    """Specification of the plugin hooks (pluggy validates implementations against these)."""

    @hookspec
    def flyte_register_task_types(self, registry: Any) -> None:
        """Add task types: ``registry.add(task_type, version, template_cls, config_type=, backend=)``."""

    @hookspec
    def flyte_register_storage(self, registry: Any) -> None:
        """Add object-store backends for URI schemes: ``registry.add(scheme, factory)``."""

    @hookspec
    def flyte_register_executors(self, registry: Any) -> None:
        """Add executors (where actions run): ``registry.add(name, factory)``."""

    @hookspec
    def flyte_register_types(self, registry: Any) -> None:
        """Add type transformers: ``registry.add("pyspark.sql.dataframe.DataFrame", factory)``."""

    @hookspec
    def flyte_add_cli_commands(self, cli: Any) -> None:
        """Add click commands to the ``flyte`` command group."""

    @hookspec(firstresult=True)
    def flyte_build_image(self, image: Any, force: bool) -> str | None:
        """Build a ``flyte.Image`` locally and return its URI; None when this plugin cannot build here."""
