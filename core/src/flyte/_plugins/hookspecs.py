"""The hooks a plugin may implement. All are keyword-only; the marker project name is "flyte".

Typed against the contract (``flyte._plugins.contract``): what each hook is handed is a protocol there.
Only the plugin manager imports this module (and pluggy); plugins mark their hooks with
``flyte.extend.hookimpl``, which needs neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

from flyte._plugins.contract import PROJECT, NamedRegistry, TaskTypeRegistry, hookimpl

if TYPE_CHECKING:
    import click

    from flyte._image import Image

hookspec = pluggy.HookspecMarker(PROJECT)

__all__ = ["FlyteHookSpecs", "hookimpl", "hookspec"]


class FlyteHookSpecs:
    """Specification of the plugin hooks (pluggy validates implementations against these)."""

    @hookspec
    def flyte_register_task_types(self, registry: TaskTypeRegistry) -> None:
        """Add task types: ``registry.add(task_type, version, template_cls, config_type=, backend=,
        function_field=)``."""

    @hookspec
    def flyte_register_storage(self, registry: NamedRegistry) -> None:
        """Add object-store backends for URI schemes: ``registry.add(scheme, factory)``; the factory
        makes an ``ObjectStore``."""

    @hookspec
    def flyte_register_executors(self, registry: NamedRegistry) -> None:
        """Add executors (where actions run): ``registry.add(name, factory)``; the factory makes an
        ``Executor`` (cluster schemes) or a ``Backend`` (the ``container`` executor)."""

    @hookspec
    def flyte_register_types(self, registry: NamedRegistry) -> None:
        """Add type transformers: ``registry.add("pyspark.sql.dataframe.DataFrame", factory)``; the
        factory makes a ``TypeTransformer``."""

    @hookspec
    def flyte_add_cli_commands(self, cli: click.Group) -> None:
        """Add click commands to the ``flyte`` command group."""

    @hookspec(firstresult=True)
    def flyte_build_image(self, image: Image, force: bool) -> str | None:
        """Build a ``flyte.Image`` locally and return its URI; None when this plugin cannot build here."""
