"""The module path flyte-sdk users import from: ``flyteplugins.spark.df_transformer``.

Spark DataFrames convert to and from ``flyte.io.DataFrame`` (Parquet) as soon as the plugin is
loaded; ``register_spark_df_transformers()`` is kept for code that calls it and does nothing more
than make sure of that. Importing this module does not import pyspark.
"""

from __future__ import annotations

import functools
from typing import Any

from flyte.io._dataframe import PARQUET, register_dataframe_handler
from flyteplugins.spark._dataframe import SPARK_DF_TYPE, spark_handler


class SparkToParquetEncoder:
    """Writes a Spark DataFrame as Parquet at a URI (``encode(df, uri)``)."""

    python_type_path = SPARK_DF_TYPE
    supported_format = PARQUET

    def encode(self, df: Any, uri: str) -> str:
        spark_handler().write(df, uri)
        return uri


class ParquetToSparkDecoder:
    """Reads Parquet at a URI into a Spark DataFrame in the current (or a local) session."""

    python_type_path = SPARK_DF_TYPE
    supported_format = PARQUET

    def decode(self, uri: str, columns: list[str] | None = None) -> Any:
        return spark_handler().read(uri, columns)


@functools.cache
def register_spark_df_transformers() -> None:
    """Register the Spark handler of ``flyte.io.DataFrame`` (the plugin's hook does it too)."""
    register_dataframe_handler(spark_handler())


__all__ = ["ParquetToSparkDecoder", "SparkToParquetEncoder", "register_spark_df_transformers"]
