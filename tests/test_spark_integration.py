"""Core + the Spark plugin installed beside every other package: it loads cleanly next to them, and a
run mixes Spark, plain Python and (when installed) shell tasks."""

from __future__ import annotations

import json

import flyte
import flyte._config
import pytest
from click.testing import CliRunner
from flyte.cli.main import cli

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("flyte_home")]  # flyte.testing

spark = pytest.importorskip("flyteplugins.spark")
pytest.importorskip("pandas")

from pyspark.sql import DataFrame, SparkSession  # noqa: E402

spark_env = flyte.TaskEnvironment(name="int-spark", plugin_config=spark.Spark())
env = flyte.TaskEnvironment(name="int-plain")


@spark_env.task
def words(lines: list[str]) -> DataFrame:
    session = SparkSession.builder.getOrCreate()
    df = session.createDataFrame([(line,) for line in lines], "line STRING")
    return df.selectExpr("explode(split(line, ' ')) AS word").groupBy("word").count()


@env.task
def top(counts: DataFrame) -> list[str]:
    df = spark.to_pandas(counts).sort_values(["count", "word"], ascending=[False, True])
    return [f"{r.word}={r.count}" for r in df.itertuples()]


@env.task
async def pipeline(lines: list[str]) -> list[str]:
    out: list[str] = await top.aio(await words.aio(lines))
    return out


def test_spark_plugin_loads_beside_the_others() -> None:
    shown = CliRunner().invoke(cli, ["plugins", "--json"])
    assert shown.exit_code == 0, shown.output
    plugins = {p["name"]: p for p in json.loads(shown.output)}
    assert plugins["spark"]["task_types"] == ["spark"] and plugins["spark"]["error"] is None
    assert "pyspark.sql.dataframe.DataFrame" in plugins["spark"]["types"]
    broken = {name: p["error"] for name, p in plugins.items() if p["error"]}
    assert not broken, f"plugins failed to load beside flyte-plugin-spark: {broken}"


def test_spark_and_python_tasks_in_one_run() -> None:
    run = flyte.run(pipeline, lines=["b a", "a b", "a"])
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs()[0] == ["a=3", "b=2"]
