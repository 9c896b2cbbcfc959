"""Code written for flyte-sdk's BigQuery plugin, run unchanged against the stand-in server through the
real google-cloud-bigquery client: ``{{ .inputs.x }}`` templates (bound as parameters here, where
flyte-sdk writes the values into the SQL), ``output_dataframe_type=DataFrame`` and column-annotated
DataFrame outputs, the credentials secret and flyte-sdk's ``custom_config``/``sql()`` forms."""

from __future__ import annotations

import collections
from typing import Annotated, Any

import flyte
import pandas as pd
import pytest
from conftest import PROJECT, StandIn
from flyte.io import DataFrame
from flyteplugins.bigquery import BigQueryConfig, BigQueryTask
from flyteplugins.bigquery.connector import BigQueryConnector
from flyteplugins.bigquery.task import BigQueryConfig as TaskModuleConfig

env = flyte.TaskEnvironment(name="bq_anchor")
EVIL = "x'; DROP TABLE events; --"
cols = collections.OrderedDict(name=str, n=int)


def templated(dataset: str, **kw: Any) -> BigQueryTask:
    args: dict[str, Any] = {
        "name": "templated_events",
        "query_template": f"""
            SELECT ds, name, n
            FROM {dataset}.events
            WHERE ds = '{{{{ .inputs.ds }}}}' AND n >= {{{{ .min_n }}}}
            ORDER BY name
        """,
        "inputs": {"ds": str, "min_n": int},
        "output_dataframe_type": DataFrame,
        "plugin_config": BigQueryConfig(ProjectID=PROJECT, Location="US"),
    }
    args.update(kw)
    return BigQueryTask(**args)


def test_module_paths_and_sql_form() -> None:
    assert TaskModuleConfig is BigQueryConfig and BigQueryConnector.__name__ == "BigQueryConnector"
    t = templated("analytics")
    # flyte-sdk's one-line text; the placeholders (quoted or not) became parameters.
    assert t.sql().statement == (
        "SELECT ds, name, n FROM analytics.events WHERE ds = @ds AND n >= @min_n ORDER BY name"
    )
    assert t.interface.output is DataFrame and t.output_kind == "dataframe"


def test_templated_inputs_are_bound_and_dataframe_output(bq: StandIn, client: Any, dataset: str) -> None:
    q = templated(dataset)

    @env.task
    async def names(ds: str, min_n: int) -> list[str]:
        df = await q(ds=ds, min_n=min_n)
        assert isinstance(df, DataFrame)
        pdf = await df.open(pd.DataFrame).all()
        return [f"{r.name}={r.n}" for r in pdf.itertuples()]

    run = flyte.run(names, ds="2024-01-01", min_n=4)
    assert run.outputs()[0] == ["bob=5"], run.error
    job = bq.jobs(contains="flyte_")[-1]
    assert job["query"] == q.sql() and "2024-01-01" not in job["query"]
    assert {p["name"]: p["parameterValue"]["value"] for p in job["queryParameters"]} == {
        "ds": "2024-01-01",
        "min_n": "4",
    }

    # The value flyte-sdk would have written into the SQL text is only data here.
    run = flyte.run(names, ds=EVIL, min_n=0)
    assert run.outputs()[0] == ["mallory=1"], run.error
    assert client.get_table(f"{dataset}.events").num_rows == 4


def test_column_annotated_dataframe_output(bq: StandIn, dataset: str) -> None:
    q = templated(dataset, name="annotated_events", output_dataframe_type=Annotated[DataFrame, cols])

    @env.task
    async def total(df: Annotated[DataFrame, cols]) -> list[Any]:
        pdf = await df.open(pd.DataFrame).all()
        return [list(pdf.columns), int(pdf["n"].sum())]

    @env.task
    async def main(ds: str) -> list[Any]:
        return await total(await q(ds=ds, min_n=0))

    run = flyte.run(main, ds="2024-01-01")
    assert run.outputs()[0] == [["name", "n"], 8], run.error


def test_credentials_are_a_secret_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BIGQUERY_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("GCP_SA_KEY", raising=False)
    q = BigQueryTask(
        name="with_credentials",
        query_template="SELECT 1 AS one",
        plugin_config=BigQueryConfig(ProjectID=PROJECT, google_application_credentials="gcp-sa-key"),
        output_dataframe_type=DataFrame,
    )
    spec = q.spec()
    assert spec.custom_config["secrets"] == {"google_application_credentials": "gcp-sa-key"}
    assert [s["key"] for s in spec.model_dump()["secrets"]] == ["gcp-sa-key"]
    # Google's endpoint with the secret unset: a clear error naming it, before any request is made.
    with pytest.raises(Exception) as failed:  # a failing run raises its error
        flyte.run(q)
    assert "gcp-sa-key" in str(failed.value) and "GCP_SA_KEY" in str(failed.value)
    assert failed.value.flyte_run.status == "FAILED"  # type: ignore[attr-defined]
    # flyte-sdk passes the secret name to the task; it is accepted there as well.
    t = BigQueryTask(
        name="task_credentials",
        query_template="SELECT 1",
        plugin_config=BigQueryConfig(ProjectID=PROJECT),
        google_application_credentials="other-key",
    )
    assert t.custom_config()["secrets"] == {"google_application_credentials": "other-key"}
