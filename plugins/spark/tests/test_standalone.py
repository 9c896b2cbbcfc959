"""The same Spark tasks on a real standalone cluster (master + worker started by the fixture on 127.0.0.1):
``spark_conf={"spark.master": "spark://127.0.0.1:PORT"}`` is the only change."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import flyte
import pandas as pd
import pytest
from conftest import Cluster, children_of, descendants, live_in_group
from flyteplugins.spark import Spark, parquet_uri, to_pandas
from pyspark.sql import DataFrame, SparkSession

env = flyte.TaskEnvironment(name="cluster-parent")


def cluster_env(cluster: Cluster) -> flyte.TaskEnvironment:
    return flyte.TaskEnvironment(
        name="spark-cluster",
        plugin_config=Spark(
            spark_conf={"spark.master": cluster.url, "spark.executor.memory": "512m", "spark.cores.max": "1"}
        ),
    )


@pytest.fixture(scope="module")
def tasks(spark_cluster: Cluster) -> dict[str, Any]:
    spark_env = cluster_env(spark_cluster)

    @spark_env.task
    def where_am_i() -> dict[str, str]:
        spark = flyte.ctx().data["spark_session"]  # type: ignore[union-attr]
        sc = spark.sparkContext
        squares = sc.parallelize(range(100), 4).map(lambda x: x * x).sum()  # Python on the executor
        return {
            "master": sc.master,
            "executors": str(sc._jsc.sc().getExecutorIds().size()),
            "squares": str(squares),
            # The Python worker's parent: pyspark's daemon, which lives as long as its executor.
            "daemon_pid": str(sc.parallelize([0], 1).map(lambda _: os.getppid()).collect()[0]),
        }

    @spark_env.task
    def make(n: int) -> DataFrame:
        return SparkSession.builder.getOrCreate().range(n).selectExpr("id", "id % 5 AS g")

    @spark_env.task
    def groups(df: DataFrame) -> DataFrame:
        return df.groupBy("g").count()

    @env.task
    def total(table: pd.DataFrame) -> int:
        return int(to_pandas(table)["count"].sum())

    @env.task
    async def pipeline(n: int) -> list[Any]:
        made = await make.aio(n)
        grouped = await groups.aio(made)
        return [parquet_uri(grouped), await total.aio(grouped)]

    return {"where_am_i": where_am_i, "pipeline": pipeline}


def test_task_runs_on_the_cluster(spark_cluster: Cluster, tasks: dict[str, Any]) -> None:
    facts = flyte.run(tasks["where_am_i"]).outputs()[0]
    assert facts["master"] == spark_cluster.url
    assert int(facts["executors"]) >= 1
    assert facts["squares"] == str(sum(x * x for x in range(100)))
    # The work ran in an executor the worker launched (its process group), not in the driver.
    worker = spark_cluster.procs[1]
    daemon = int(facts["daemon_pid"])
    executors = [p for p in live_in_group(worker.pid) if p != worker.pid]
    assert daemon != os.getpid() and _parent(daemon) in executors
    assert list(spark_cluster.work_dir.glob("app-*/*/stderr")), "the worker launched no executor"
    status = spark_cluster.status()
    assert [a["name"] for a in status["activeapps"]] == ["flyte-spark"]


def test_dataframes_between_cluster_tasks(
    spark_cluster: Cluster, tasks: dict[str, Any], flyte_home: Path
) -> None:
    run = flyte.run(tasks["pipeline"], n=1000)
    uri, n = run.outputs()[0]
    assert n == 1000
    assert uri.startswith(f"file://{flyte_home}/") and f"/{run.name}/" in uri  # the run's prefix
    assert list(Path(uri[len("file://") :]).glob("part-*.parquet"))


def test_nothing_listens_beyond_loopback(spark_cluster: Cluster, tasks: dict[str, Any]) -> None:
    flyte.run(tasks["where_am_i"]).outputs()[0]  # the driver, master, worker and an executor are all up
    pids = set(children_of(os.getpid()))  # the driver JVM
    for proc in spark_cluster.procs:
        pids.update(live_in_group(proc.pid))
        pids.update(descendants(proc.pid))  # pyspark's daemon makes its own process group
    listening = _listening_sockets()
    owned = [(pid, addr) for pid in pids for inode in _socket_inodes(pid) if (addr := listening.get(inode))]
    assert owned, "found no listening sockets of the Spark processes"
    wide = [(pid, addr) for pid, addr in owned if not _is_loopback(addr)]
    assert not wide, f"Spark processes listen beyond 127.0.0.1: {wide}"


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    except OSError:
        pass
    return inodes


def _listening_sockets() -> dict[str, str]:
    """inode -> local address (hex, as in /proc/net/tcp*) of every TCP socket in LISTEN state."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A":  # LISTEN
                found[parts[9]] = parts[1].split(":")[0]
    return found


def _is_loopback(hex_addr: str) -> bool:
    return hex_addr in (
        "0100007F",  # 127.0.0.1
        "00000000000000000000000001000000",  # ::1
        "0000000000000000FFFF00000100007F",  # ::ffff:127.0.0.1
    )
