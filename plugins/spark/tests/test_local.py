"""Spark tasks on a real local Spark (``local[*]``): the ready session, its reuse, DataFrames as Parquet."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import flyte
import pandas as pd
import pytest
from flyteplugins.spark import Spark, SparkTask, parquet_uri, session_info, to_arrow, to_pandas
from pyspark.sql import DataFrame, SparkSession

spark_env = flyte.TaskEnvironment(name="spark-local", plugin_config=Spark())
env = flyte.TaskEnvironment(name="plain")


@spark_env.task
def session_facts() -> dict[str, str]:
    spark = flyte.ctx().data["spark_session"]  # type: ignore[union-attr]
    conf = spark.sparkContext.getConf()
    return {
        "same_as_builder": str(SparkSession.builder.getOrCreate() is spark),
        "master": spark.sparkContext.master,
        "driver_host": conf.get("spark.driver.host"),
        "bind_address": conf.get("spark.driver.bindAddress"),
        "spark_local_ip": os.environ.get("SPARK_LOCAL_IP", ""),
        "app_id": spark.sparkContext.applicationId,
        "count": str(spark.range(10).count()),
    }


@spark_env.task
def make_orders(n: int) -> DataFrame:
    spark = SparkSession.builder.getOrCreate()
    return spark.range(n).selectExpr("id", "id % 7 AS store", "CAST(id % 100 AS DOUBLE) AS amount")


@spark_env.task
def by_store(orders: DataFrame) -> DataFrame:
    return orders.groupBy("store").agg({"amount": "sum", "id": "count"}).withColumnRenamed("count(id)", "n")


@spark_env.task
async def async_total(orders: DataFrame) -> float:
    return float(orders.agg({"amount": "sum"}).collect()[0][0])


@env.task
def pandas_total(table: pd.DataFrame) -> float:
    return float(to_pandas(table)["sum(amount)"].sum())


@env.task
def arrow_rows(table: pd.DataFrame) -> int:
    return int(to_arrow(table).num_rows)


@env.task
async def pipeline(n: int) -> dict[str, Any]:
    orders = await make_orders.aio(n)
    stores = await by_store.aio(orders)
    return {
        "raw_data_path": flyte.ctx().raw_data_path,  # type: ignore[union-attr]
        "orders_uri": parquet_uri(orders),
        "stores_uri": parquet_uri(stores),
        "input_files": list(orders.inputFiles()),
        "pandas_total": await pandas_total.aio(stores),
        "async_total": await async_total(orders),
        "arrow_rows": await arrow_rows.aio(stores),
    }


def _journal(home: Path, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    conn = sqlite3.connect(str(home / "journal.db"))
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()


def test_session_is_ready_in_the_task_and_bound_to_loopback() -> None:
    run = flyte.run(session_facts)
    facts = run.outputs()[0]
    assert facts["same_as_builder"] == "True"  # ctx().data["spark_session"] is getOrCreate()'s
    assert facts["master"] == "local[*]"
    assert facts["driver_host"] == facts["bind_address"] == "127.0.0.1"
    assert facts["spark_local_ip"] == "127.0.0.1"
    assert facts["count"] == "10"


def test_dataframes_pass_as_parquet_references(flyte_home: Path) -> None:
    n = 20_000
    run = flyte.run(pipeline, n=n)
    out = run.outputs()[0]
    expected = float(sum(i % 100 for i in range(n)))
    assert out["pandas_total"] == expected
    assert out["async_total"] == expected
    assert out["arrow_rows"] == 7

    # Written under the run's prefix in the object store, one folder per producing action.
    assert run.name in out["raw_data_path"] and str(flyte_home) in out["raw_data_path"]
    for key in ("orders_uri", "stores_uri"):
        uri = out[key]
        assert uri.startswith(out["raw_data_path"] + "/") and uri.endswith("/spark/o0.parquet")
        files = list(Path(uri[len("file://") :]).glob("part-*.parquet"))
        assert files, f"no Parquet files at {uri}"
    # The parent holds a DataFrame that reads those files, not rows collected from the task.
    assert out["input_files"] and all(f.startswith(out["orders_uri"]) for f in out["input_files"])

    # The journal records the reference only (a few hundred bytes for 20k rows).
    rows = _journal(
        flyte_home,
        "SELECT outputs FROM actions WHERE run=? AND task_name=?",
        (run.name, "spark-local.make_orders"),
    )
    assert len(rows) == 1
    raw = bytes(rows[0]["outputs"])
    assert len(raw) < 2000 and out["orders_uri"].encode() in raw and b"parquet" in raw


def test_second_task_reuses_the_session() -> None:
    first = flyte.run(session_facts).outputs()[0]
    before = session_info()
    t0 = time.perf_counter()
    second = flyte.run(session_facts).outputs()[0]
    took = time.perf_counter() - t0
    after = session_info()
    assert first["app_id"] == second["app_id"]  # the same SparkContext
    assert after["starts"] == before["starts"] and after["reuses"] == before["reuses"] + 1
    assert took < 5.0, f"a reused session should take well under the start-up cost, took {took:.1f}s"


def test_another_conf_gets_its_own_session_and_back() -> None:
    other = session_facts.override(plugin_config=Spark(spark_conf={"spark.sql.shuffle.partitions": "3"}))
    assert isinstance(other, SparkTask) and other.task_type == "spark"

    @env.task
    async def both() -> list[str]:
        a = await session_facts.aio()
        b = await other.aio()
        c = await session_facts.aio()
        return [a["app_id"], b["app_id"], c["app_id"]]

    a, b, c = flyte.run(both).outputs()[0]
    assert a != b and b != c  # one SparkContext per process: a conf change restarts it
    assert session_info()["conf"].get("spark.sql.shuffle.partitions") is None


def test_cached_spark_output_is_read_back_as_a_dataframe(flyte_home: Path) -> None:
    cached = make_orders.override(cache="auto")

    @env.task
    async def use_cached(n: int) -> int:
        df = await cached.aio(n)
        assert isinstance(df, DataFrame)
        return int(df.count())

    first = flyte.run(use_cached, n=123)
    second = flyte.run(use_cached, n=123)
    assert first.outputs()[0] == second.outputs()[0] == 123
    # The second run took the first run's recorded reference: its task never ran, so it wrote nothing.
    written = {p.parent.parent.parent.name for p in flyte_home.rglob("spark/o0.parquet")}
    assert first.name in written and second.name not in written


def test_empty_dataframe_keeps_its_schema() -> None:
    @spark_env.task
    def empty() -> DataFrame:
        return SparkSession.builder.getOrCreate().range(5).selectExpr("id", "'x' AS s").where("id < 0")

    @spark_env.task
    def columns(df: DataFrame) -> list[str]:
        return [f"{f.name}:{f.dataType.simpleString()}:{df.count()}" for f in df.schema.fields]

    @env.task
    async def wf() -> list[str]:
        names: list[str] = await columns.aio(await empty.aio())
        return names

    assert flyte.run(wf).outputs()[0] == ["id:bigint:0", "s:string:0"]


def test_plain_call_outside_a_run_has_a_session() -> None:
    df = make_orders(5)  # forward(): a plain function call, for unit tests of the function
    assert isinstance(df, DataFrame) and df.count() == 5
    assert parquet_uri(df) is None  # nothing is stored outside a run


def test_pandas_input_converts_a_dataframe_no_task_stored() -> None:
    # As in flyte-sdk: a Spark DataFrame given to a pandas input is stored as Parquet and read with pandas.
    @spark_env.task
    def adhoc() -> int:
        df = (
            SparkSession.builder.getOrCreate()
            .range(3)
            .selectExpr("id", "CAST(id AS DOUBLE) AS `sum(amount)`")
        )
        return int(pandas_total(df))  # type: ignore[arg-type]

    assert flyte.run(adhoc).outputs()[0] == 3


def test_stored_dataframes_pickle_as_their_reference() -> None:
    import pickle

    import cloudpickle

    @env.task
    async def stored() -> DataFrame:
        df: DataFrame = await make_orders.aio(10)
        return df

    df = flyte.run(stored).outputs()[0]
    back = pickle.loads(cloudpickle.dumps(df))  # what crossing into a worker process does
    assert parquet_uri(back) == parquet_uri(df) and back.count() == 10
    with pytest.raises(pickle.PicklingError, match="return it from a Spark task"):
        cloudpickle.dumps(SparkSession.builder.getOrCreate().range(3))


def test_dataframes_cross_into_worker_processes() -> None:
    @env.task
    async def isolated(n: int) -> list[int]:
        orders = await make_orders.aio(n)
        return [await pandas_rows.aio(orders), await spark_rows.aio(orders)]

    run = flyte.with_runcontext(isolation="process").run(isolated, n=321)
    assert run.outputs()[0] == [321, 321]


@env.task
def pandas_rows(table: pd.DataFrame) -> int:
    return len(to_pandas(table))


@spark_env.task
def spark_rows(orders: DataFrame) -> int:
    return int(orders.count())


def test_stop_session_returns_within_its_deadline_and_kills_a_jvm_that_does_not_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """stop_session() returns within STOP_TIMEOUT_S; when Spark's own stop does not finish in time
    (here: a deadline of 0 s) the JVM is killed and the next Spark task starts a fresh one."""
    from flyteplugins.spark import _session, stop_session
    from pyspark import SparkContext

    first = flyte.run(session_facts).outputs()[0]
    t0 = time.monotonic()
    stop_session()
    took = time.monotonic() - t0
    assert took < _session.STOP_TIMEOUT_S, f"stopping the Spark session took {took:.1f}s"
    assert session_info()["active"] is False

    second = flyte.run(session_facts).outputs()[0]
    assert second["app_id"] != first["app_id"]
    jvm = SparkContext._gateway.proc  # type: ignore[union-attr]
    monkeypatch.setattr(_session, "STOP_TIMEOUT_S", 0.0)
    t0 = time.monotonic()
    stop_session()
    took = time.monotonic() - t0
    assert jvm.poll() is not None, "the JVM outlived a stop past its deadline"
    assert took < 5.0 + 1.0, f"the killed JVM's stop took {took:.1f}s"  # the kill, then <= 5 s of joining
    third = flyte.run(session_facts).outputs()[0]  # a fresh JVM and SparkContext
    assert third["count"] == "10" and SparkContext._gateway.proc is not jvm  # type: ignore[union-attr]
