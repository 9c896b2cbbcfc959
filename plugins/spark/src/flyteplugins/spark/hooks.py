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
    from flyte.io._dataframe import register_dataframe_handler
    from flyteplugins.spark._dataframe import SPARK_DF_TYPE, SparkDataFrameTransformer, spark_handler

    registry.add(SPARK_DF_TYPE, SparkDataFrameTransformer)
    # flyte.io.DataFrame (and pandas/pyarrow/polars inputs, which the core handles) convert to and
    # from Spark DataFrames through this handler.
    register_dataframe_handler(spark_handler())
