"""An ETL run with Spark tasks and a pandas report.

    python plugins/spark/examples/spark_etl.py                 # Spark in this process (local[*])
    SPARK_MASTER=spark://127.0.0.1:7077 python plugins/spark/examples/spark_etl.py   # a standalone cluster
    flyte run plugins/spark/examples/spark_etl.py main --n 200000

``generate`` and ``revenue_by_region`` share one Spark session (started once); each returns a
DataFrame that is stored as Parquet under the run's prefix and passed on by reference. ``report`` is
a plain Python task that reads the result with pandas, without a JVM.
"""

from __future__ import annotations

import os

import flyte
import pandas as pd
from flyteplugins.spark import Spark, to_pandas
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

_conf = {"spark.master": os.environ["SPARK_MASTER"]} if os.environ.get("SPARK_MASTER") else {}
spark_env = flyte.TaskEnvironment(name="spark-etl", plugin_config=Spark(spark_conf=_conf))
env = flyte.TaskEnvironment(name="etl-report")

REGIONS = ["north", "south", "east", "west"]


@spark_env.task
def generate(n: int) -> DataFrame:
    """Synthetic orders; the session is the one ``pre()`` put in ``flyte.ctx().data``."""
    spark: SparkSession = flyte.ctx().data["spark_session"]  # type: ignore[union-attr]
    regions = F.array(*[F.lit(r) for r in REGIONS])
    return (
        spark.range(n)
        .withColumn("region", regions[(F.col("id") % len(REGIONS)).cast("int")])
        .withColumn("amount", (F.col("id") % 97).cast("double") + 0.5)
    )


@spark_env.task
def revenue_by_region(orders: DataFrame) -> DataFrame:
    """Reads the previous task's Parquet in the same (reused) session."""
    return orders.groupBy("region").agg(F.sum("amount").alias("revenue"), F.count("*").alias("orders"))


@env.task
def report(revenue: pd.DataFrame) -> dict[str, float]:
    """A plain Python task: the Spark output arrives by reference and is read with pandas."""
    df = to_pandas(revenue).sort_values("region")
    return {str(r.region): float(r.revenue) for r in df.itertuples()}


@env.task
async def main(n: int = 100_000) -> dict[str, float]:
    orders = await generate.aio(n)
    revenue = await revenue_by_region.aio(orders)
    totals: dict[str, float] = await report.aio(revenue)
    return totals


if __name__ == "__main__":
    flyte.init_from_config()
    run = flyte.run(main, n=100_000)
    print(run.name, run.outputs()[0])
