"""A plugin_config no installed plugin handles fails when the environment is defined, saying what is
installed and which distribution to install (derived from what is discovered, never hard-coded)."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import flyte
import pytest
from flyte._plugins.manager import load_plugins
from flyte.errors import TaskTypeNotFoundError


@pytest.fixture
def fresh_plugins() -> Iterator[None]:
    load_plugins(reload=True)
    yield
    load_plugins(reload=True)


class SomethingNoPluginRegistered:
    pass


def _config_in(module_name: str) -> object:
    mod = types.ModuleType(module_name)
    exec("class Snowflake:\n    pass\n", mod.__dict__)
    sys.modules[module_name] = mod
    return mod.Snowflake()  # type: ignore[no-any-return]


def test_unknown_config_fails_at_definition_listing_what_is_installed(fresh_plugins: None) -> None:
    with pytest.raises(TaskTypeNotFoundError) as ei:
        flyte.TaskEnvironment(name="nobody", plugin_config=SomethingNoPluginRegistered())
    msg = str(ei.value)
    assert "No installed plugin handles plugin_config of type" in msg
    assert "SomethingNoPluginRegistered" in msg
    assert "installed task types: [" in msg and "'python'" in msg
    registered = load_plugins().task_types.by_config
    for cls in registered:  # every installed plugin_config type is listed with its task type
        assert f"{cls.__module__}.{cls.__qualname__}" in msg
    assert "flyte plugins" in msg


def test_config_of_a_plugin_package_names_the_distribution(fresh_plugins: None) -> None:
    config = _config_in("flyteplugins.snow_flake.task")
    try:
        with pytest.raises(TaskTypeNotFoundError, match=r"pip install flyte-plugin-snow-flake"):
            flyte.TaskEnvironment(name="snow", plugin_config=config)
    finally:
        sys.modules.pop("flyteplugins.snow_flake.task", None)


def test_disabled_plugin_is_named_with_its_distribution(
    fresh_plugins: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    spark = pytest.importorskip("flyteplugins.spark")
    monkeypatch.setenv("FLYTE_DISABLE_PLUGINS", "spark")
    load_plugins(reload=True)
    with pytest.raises(
        TaskTypeNotFoundError, match=r"'spark' \(flyte-plugin-spark\) provides it but is disabled"
    ):
        flyte.TaskEnvironment(name="no-spark", plugin_config=spark.Spark())
