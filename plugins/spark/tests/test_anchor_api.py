"""Code written for flyte-sdk's Spark plugin, run unchanged: its module paths, ``Spark`` fields and
defaults, ``task.override(plugin_config=...)`` and Spark DataFrames as ``flyte.io.DataFrame``."""

from __future__ import annotations

import collections
from copy import deepcopy
from typing import Annotated, cast

import flyte
import pandas as pd
import pyarrow as pa
from flyte.io import DataFrame
from flyteplugins.spark.df_transformer import (
    ParquetToSparkDecoder,
    SparkToParquetEncoder,
    register_spark_df_transformers,
)
from flyteplugins.spark.task import PysparkFunctionTask, Spark
from pyspark.sql import DataFrame as SparkDataFrame
from pyspark.sql import SparkSession

spark_conf = Spark(spark_conf={"spark.sql.shuffle.partitions": "3"})
spark_env = flyte.TaskEnvironment(name="anchor-spark", plugin_config=spark_conf)
env = flyte.TaskEnvironment(name="anchor-plain")
columns = collections.OrderedDict(name=str, age=int)


@spark_env.task
async def shuffle_partitions() -> str:
    spark = cast(SparkSession, flyte.ctx().data["spark_session"])  # type: ignore[union-attr]
    return str(spark.conf.get("spark.sql.shuffle.partitions"))


@env.task
async def overrider(n: int) -> str:
    updated = deepcopy(spark_conf)
    assert updated.spark_conf is not None
    updated.spark_conf["spark.sql.shuffle.partitions"] = str(n)
    return await shuffle_partitions.override(plugin_config=updated)()


@spark_env.task
async def people() -> DataFrame:
    spark = cast(SparkSession, flyte.ctx().data["spark_session"])  # type: ignore[union-attr]
    sdf = spark.createDataFrame(
        [("alice", 10, "x"), ("bob", 20, "y"), ("carol", 30, "z")], ["name", "age", "extra"]
    )
    return DataFrame.from_df(sdf)


@spark_env.task
async def sum_of_all_ages(sd: Annotated[SparkDataFrame, columns]) -> int:
    assert isinstance(sd, SparkDataFrame) and sd.columns == ["name", "age"]
    return int(sd.groupBy().sum("age").collect()[0][0])


@env.task
async def oldest(df: DataFrame) -> str:
    pdf = await df.open(pd.DataFrame).all()
    return str(pdf.sort_values("age").iloc[-1]["name"])


@env.task
def pandas_people() -> pd.DataFrame:
    return pd.DataFrame({"name": ["dan", "eve"], "age": [40, 50]})


@spark_env.task
def spark_count(sd: SparkDataFrame) -> int:
    return int(sd.count())


@spark_env.task
def spark_out() -> SparkDataFrame:
    return SparkSession.builder.getOrCreate().range(4)


@env.task
async def arrow_rows(t: pa.Table) -> int:
    return int(t.num_rows)


@env.task
async def dataframes() -> list[object]:
    fdf = await people()
    total = await sum_of_all_ages(fdf)
    name = await oldest(fdf)
    pdf = await pandas_people.aio()
    from_pandas = await spark_count.aio(pdf)
    rows = await arrow_rows(await spark_out.aio())
    return [total, name, from_pandas, rows, fdf.uri is not None]


def test_anchor_names_and_defaults() -> None:
    assert PysparkFunctionTask.__name__ == "SparkTask"
    s = Spark()
    assert (s.spark_conf, s.hadoop_conf, s.executor_path, s.applications_path) == ({}, {}, None, None)
    assert (s.driver_pod, s.executor_pod) == (None, None)
    assert Spark(spark_conf=None, hadoop_conf=None).spark_conf == {}
    full = Spark(
        spark_conf={"spark.executor.instances": "2"},
        hadoop_conf={"fs.s3a.path.style.access": "true"},
        executor_path="/usr/bin/python3",
        applications_path="local:///app/main.py",
    )
    task = spark_env.task(lambda: None)  # type: ignore[arg-type,var-annotated]
    job = task.override(plugin_config=full).custom_config(flyte.extend.SerializationContext())
    assert job["sparkConf"] == {"spark.executor.instances": "2"} and job["executorPath"] == "/usr/bin/python3"
    assert job["mainApplicationFile"] == "local:///app/main.py"
    assert job["hadoopConf"] == {"fs.s3a.path.style.access": "true"}
    register_spark_df_transformers()
    assert SparkToParquetEncoder().supported_format == ParquetToSparkDecoder().supported_format == "parquet"


def test_override_plugin_config_changes_the_session_conf() -> None:
    assert flyte.run(overrider, n=7).outputs()[0] == "7"
    assert flyte.run(shuffle_partitions).outputs()[0] == "3"


def test_spark_dataframes_as_flyte_dataframes() -> None:
    run = flyte.run(dataframes)
    assert run.outputs()[0] == [60, "carol", 2, 4, True], run.error


def test_encoder_and_decoder_round_trip(tmp_path: object) -> None:
    spark = SparkSession.builder.getOrCreate()
    uri = str(tmp_path) + "/table"
    SparkToParquetEncoder().encode(spark.range(5).selectExpr("id", "id * 2 AS twice"), uri)
    back = ParquetToSparkDecoder().decode(uri, ["twice"])
    assert back.columns == ["twice"] and sorted(r.twice for r in back.collect()) == [0, 2, 4, 6, 8]
    fdf = DataFrame.from_existing_remote(uri, format="parquet")
    assert fdf.open(pd.DataFrame).all_sync()["twice"].sum() == 20
