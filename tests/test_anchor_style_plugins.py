"""Workflows written the way flyte-sdk 2.12 users write them for its plugins, with its public names,
run end to end with every package installed. One section per plugin; each section's workflow and
test stand alone. (No ``from __future__ import annotations``: the Spark tasks are defined inside a
function, so their hints must be evaluated where the local names exist.)"""

import collections
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import flyte
import flyte._config
import pytest
from flyte.io import DataFrame

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("flyte_home")]  # flyte.testing
ROOT = Path(__file__).resolve().parent.parent


# =====================================================================================================
# Spark (flyteplugins.spark): local Spark, Spark DataFrames <-> flyte.io.DataFrame, override
# =====================================================================================================
def _spark_workflow() -> Any:
    """Defined on first use so that a machine without pyspark/Java skips only the Spark test."""
    from copy import deepcopy
    from typing import cast

    import pandas as pd
    from flyteplugins.spark.task import Spark
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession

    task_env = flyte.TaskEnvironment(name="anchor_sum_of_all_ages")
    spark_conf = Spark(spark_conf={"spark.sql.shuffle.partitions": "2", "spark.driver.memory": "1000M"})
    spark_env = flyte.TaskEnvironment(
        name="anchor_spark_env", plugin_config=spark_conf, depends_on=[task_env]
    )
    columns = collections.OrderedDict(name=str, age=int)

    @spark_env.task
    async def sum_of_all_ages(sd: Annotated[SparkDataFrame, columns]) -> int:
        return int(sd.groupBy().sum("age").collect()[0][0])

    @spark_env.task
    async def people() -> DataFrame:
        spark = cast(SparkSession, flyte.ctx().data["spark_session"])  # type: ignore[union-attr]
        rows = [("alice", 10, "a"), ("bob", 20, "b"), ("charlie", 30, "c")]
        return DataFrame.from_df(spark.createDataFrame(rows, ["name", "age", "note"]))

    @spark_env.task
    async def partitions() -> str:
        spark = cast(SparkSession, flyte.ctx().data["spark_session"])  # type: ignore[union-attr]
        return str(spark.conf.get("spark.sql.shuffle.partitions"))

    @task_env.task
    async def describe(df: DataFrame) -> list[str]:
        pdf = await df.open(pd.DataFrame).all()
        return sorted(pdf["name"])

    @task_env.task
    async def spark_overrider(n: int) -> dict[str, Any]:
        updated = deepcopy(spark_conf)
        assert updated.spark_conf is not None
        updated.spark_conf["spark.sql.shuffle.partitions"] = str(n)
        df = await people()
        return {
            "total": await sum_of_all_ages(df),
            "names": await describe(df),
            "partitions": await partitions.override(plugin_config=updated)(),
        }

    return spark_overrider


def test_spark_anchor_style_workflow() -> None:
    pytest.importorskip("pyspark")
    pytest.importorskip("pandas")
    import shutil

    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java")

    wf = _spark_workflow()
    run = flyte.run(wf, n=5)
    assert run.outputs()[0] == {"total": 60, "names": ["alice", "bob", "charlie"], "partitions": "5"}, (
        run.error
    )


# =====================================================================================================
# BigQuery (flyteplugins.bigquery): against the BigQuery REST stand-in server, real client
# =====================================================================================================
BQ_PROJECT = "flyte-anchor-style"


@pytest.fixture(scope="module")
def bq_endpoint() -> Iterator[str]:
    pytest.importorskip("flyteplugins.bigquery")
    pytest.importorskip("duckdb")
    pytest.importorskip("sqlglot")
    from flyteplugins.bigquery.emulator import running

    with running() as endpoint:
        yield endpoint


def test_bigquery_anchor_style_workflow(bq_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pd = pytest.importorskip("pandas")
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", bq_endpoint)
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    client = bigquery.Client(
        project=BQ_PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=f"http://{bq_endpoint}"),
    )
    client.create_dataset("dataset", exists_ok=True)
    client.query("CREATE TABLE dataset.flyte_table3 (version INT64, label STRING)").result()
    client.query("INSERT INTO dataset.flyte_table3 VALUES (123, 'a'), (123, 'b'), (7, 'c')").result()

    from flyteplugins.bigquery import BigQueryConfig, BigQueryTask

    bigquery_task = BigQueryTask(
        name="bigquery",
        inputs={"version": int},
        output_dataframe_type=DataFrame,
        plugin_config=BigQueryConfig(ProjectID=BQ_PROJECT),
        query_template="""
            SELECT * from dataset.flyte_table3
            WHERE version = {{ .inputs.version }};
        """,
    )
    env = flyte.TaskEnvironment(name="anchor_bq_consumer")

    @env.task
    async def labels(version: int) -> list[str]:
        df = await bigquery_task(version=version)
        pdf = await df.open(pd.DataFrame).all()
        return sorted(pdf["label"])

    run = flyte.run(labels, version=123)
    assert run.outputs()[0] == ["a", "b"], run.error
    # Run on its own, as flyte-sdk's example does: the output is a flyte.io.DataFrame.
    direct = flyte.run(bigquery_task, 7)
    out = direct.outputs()[0]
    assert isinstance(out, DataFrame), direct.error
    assert list(out.open(pd.DataFrame).all_sync()["label"]) == ["c"]
