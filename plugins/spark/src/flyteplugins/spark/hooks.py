"""Entry point of the Spark plugin (``[project.entry-points."flyte.plugins"] spark = ...``).

Imports nothing but the hook marker: the task class is imported when flyte asks for registrations,
and pyspark only when a Spark task runs.
"""

from __future__ import annotations

from typing import Any

from flyte.extend import hookimpl


@hookimpl
def flyte_register_task_types(registry: Any) -> None:
    from flyteplugins.spark._config import Spark
    from flyteplugins.spark._task import TASK_TYPE, SparkTask

    # backend=None: the controller runs SparkTask.pre/execute/post in-process, where the Spark
    # driver lives; config_type lets TaskEnvironment(plugin_config=Spark(...)) pick SparkTask.
    registry.add(TASK_TYPE, 0, SparkTask, config_type=Spark)


@hookimpl
def flyte_register_types(registry: Any) -> None:
    from flyte.errors import PluginError
    from flyteplugins.spark._dataframe import (
        PANDAS_DF_TYPES,
        SPARK_DF_TYPE,
        PandasDataFrameTransformer,
        SparkDataFrameTransformer,
    )

    registry.add(SPARK_DF_TYPE, SparkDataFrameTransformer)
    for path in PANDAS_DF_TYPES:
        if registry.get(path) is None:
            try:
                registry.add(path, PandasDataFrameTransformer)
            except PluginError:  # another plugin handles pandas DataFrames
                pass
