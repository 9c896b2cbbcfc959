"""Spark tasks for flyte: ``TaskEnvironment(plugin_config=Spark(...))`` gives each task a ready Spark
session (local ``local[*]`` on 127.0.0.1, or the cluster ``spark.master`` names), reused across the
tasks of a process, with DataFrames passed between tasks as Parquet by reference.

Importing this package does not import pyspark.
"""

from __future__ import annotations

from flyteplugins.spark._config import Spark
from flyteplugins.spark._dataframe import parquet_uri, to_arrow, to_pandas
from flyteplugins.spark._errors import (
    SparkJavaNotFoundError,
    SparkJobError,
    SparkSessionConflictError,
    SparkSessionError,
)
from flyteplugins.spark._session import find_java, session_info, stop_session
from flyteplugins.spark._task import SparkTask
from flyteplugins.spark.df_transformer import (
    ParquetToSparkDecoder,
    SparkToParquetEncoder,
    register_spark_df_transformers,
)
from flyteplugins.spark.task import PysparkFunctionTask

__all__ = [
    "ParquetToSparkDecoder",
    "PysparkFunctionTask",
    "Spark",
    "SparkJavaNotFoundError",
    "SparkJobError",
    "SparkSessionConflictError",
    "SparkSessionError",
    "SparkTask",
    "SparkToParquetEncoder",
    "find_java",
    "parquet_uri",
    "register_spark_df_transformers",
    "session_info",
    "stop_session",
    "to_arrow",
    "to_pandas",
]
