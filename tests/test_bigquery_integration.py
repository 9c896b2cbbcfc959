"""Core + the BigQuery plugin installed beside every other package: it loads cleanly next to them, and
a run mixes BigQuery and plain Python tasks (and a pandas input, which the Spark plugin may also
handle when it is installed).

The BigQuery API is served by the plugin's emulator (``python -m flyteplugins.bigquery.emulator``,
DuckDB behind the BigQuery v2 REST API) on 127.0.0.1: Google's cloud cannot be reached from the test
machines. The plugin talks to it through the real google-cloud-bigquery client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import flyte
import flyte._config
import pytest
from click.testing import CliRunner
from flyte.cli.main import cli

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("flyte_home")]  # flyte.testing

bigquery = pytest.importorskip("flyteplugins.bigquery")
pd = pytest.importorskip("pandas")
pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

PROJECT = "flyte-integration"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """The stand-in server on a free loopback port, stopped by its PID at the end."""
    from flyteplugins.bigquery.emulator import running

    with running() as endpoint:
        yield endpoint


@pytest.fixture
def sales(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", endpoint)
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery as bq

    client = bq.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=f"http://{endpoint}"),
    )
    client.create_dataset("shop", exists_ok=True)
    client.query("CREATE OR REPLACE TABLE shop.sales (region STRING, amount FLOAT64)").result()
    client.query("INSERT INTO shop.sales VALUES ('north', 10.5), ('south', 4.0), ('north', 1.5)").result()
    return "shop"


totals = bigquery.BigQueryTask(
    name="totals",
    query_template="""
        SELECT region, SUM(amount) AS total FROM shop.sales
        WHERE amount >= @min_amount GROUP BY region ORDER BY region
    """,
    inputs={"min_amount": float},
    plugin_config=bigquery.BigQueryConfig(ProjectID=PROJECT, Location="US"),
)
env = flyte.TaskEnvironment(name="int-bq")


@env.task
async def best(df: pd.DataFrame) -> str:
    row = df.sort_values("total", ascending=False).iloc[0]
    return f"{row['region']}={row['total']}"


@env.task
async def report(min_amount: float) -> dict[str, Any]:
    result = await totals(min_amount=min_amount)
    df = bigquery.to_pandas(result)
    return {"regions": df["region"].tolist(), "best": await best(df)}


def test_bigquery_plugin_loads_beside_the_others() -> None:
    shown = CliRunner().invoke(cli, ["plugins", "--json"])
    assert shown.exit_code == 0, shown.output
    plugins = {p["name"]: p for p in json.loads(shown.output)}
    assert plugins["bigquery"]["task_types"] == ["bigquery_query_job_task"]
    assert plugins["bigquery"]["error"] is None
    broken = {name: p["error"] for name, p in plugins.items() if p["error"]}
    assert not broken, f"plugins failed to load beside flyte-plugin-bigquery: {broken}"


def test_bigquery_and_python_tasks_in_one_run(sales: str) -> None:
    run = flyte.run(report, min_amount=2.0)
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs()[0] == {"regions": ["north", "south"], "best": "north=10.5"}
    shown = CliRunner().invoke(cli, ["runs", "show", run.name, "--json"])
    assert shown.exit_code == 0, shown.output
    actions = {a["task_name"]: a["status"] for a in json.loads(shown.output)["actions"]}
    assert actions["totals"] == "SUCCEEDED" and actions["int-bq.best"] == "SUCCEEDED"
