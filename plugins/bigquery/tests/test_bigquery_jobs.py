"""BigQuery tasks in real runs, through the real google-cloud-bigquery client, against the BigQuery
emulator on 127.0.0.1 (``python -m flyteplugins.bigquery.emulator``: Google's cloud cannot be
reached here).

Query parameters with their types, the injection string shown to be data, outputs (pandas, rows,
a ``bq://`` reference above the inline limit, read downstream), and errors that carry BigQuery's
text and the task's name.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
from typing import Any

import flyte
import pandas as pd
import pytest
from conftest import PROJECT, StandIn
from flyte.errors import RuntimeDataValidationError
from flyteplugins.bigquery import (
    BigQueryConfig,
    BigQueryError,
    BigQueryInvalidError,
    BigQueryTable,
    BigQueryTask,
    DataFrameOrTable,
    RowsOrTable,
    to_pandas,
    to_rows,
)

CONFIG = BigQueryConfig(ProjectID=PROJECT, Location="US")
env = flyte.TaskEnvironment(name="bq_jobs")


def events_task(dataset: str, **kw: Any) -> BigQueryTask:
    args: dict[str, Any] = {
        "name": "events_for_day",
        "query_template": f"SELECT ds, name, n FROM {dataset}.events WHERE ds = @ds ORDER BY name LIMIT @limit",  # noqa: E501
        "inputs": {"ds": str, "limit": int},
        "plugin_config": CONFIG,
    }
    args.update(kw)
    return BigQueryTask(**args)


def run(task: Any, **inputs: Any) -> Any:
    r = flyte.run(task, **inputs)
    assert r.status == "SUCCEEDED", r.error
    return r.outputs()[0]


# ---- parameters -----------------------------------------------------------------------------------
def test_query_with_parameters_in_a_run(bq: StandIn, dataset: str) -> None:
    q = events_task(dataset)

    @env.task
    async def main(ds: str) -> list[str]:
        df = await q(ds=ds, limit=10)
        assert isinstance(df, pd.DataFrame)
        return [f"{r.name}={r.n}" for r in df.itertuples()]

    assert run(main, ds="2024-01-01") == ["ann=3", "bob=5"]
    job = bq.jobs(contains="flyte_")[-1]
    assert job["query"] == q.sql()  # the text sent is the template: the values are parameters
    assert {p["name"]: p["parameterType"]["type"] for p in job["queryParameters"]} == {
        "ds": "STRING",
        "limit": "INT64",
    }


def test_injection_string_is_data(bq: StandIn, client: Any, dataset: str) -> None:
    evil = "x'; DROP TABLE events; --"
    q = events_task(dataset, output_dataframe_type=list)

    @env.task
    async def main(ds: str) -> RowsOrTable:
        rows: RowsOrTable = await q(ds=ds, limit=5)
        return rows

    rows = run(main, ds=evil)
    assert rows == [{"ds": evil, "name": "mallory", "n": 1}]  # matched as a value, literally
    assert client.get_table(f"{dataset}.events").num_rows == 4  # the table is still there
    job = bq.jobs(contains="flyte_")[-1]
    assert evil not in job["query"]
    assert job["queryParameters"][0]["parameterValue"] == {"value": evil}

    # What formatting the value into the SQL would have done on this server: the table is dropped.
    client.create_dataset(f"{dataset}_copy")
    client.query(f"CREATE TABLE {dataset}_copy.events AS SELECT * FROM {dataset}.events").result()
    formatted = f"SELECT * FROM {dataset}_copy.events WHERE ds = '{evil}'"
    client.query(formatted.replace("DROP TABLE events", f"DROP TABLE {dataset}_copy.events")).result()
    assert [t.table_id for t in client.list_tables(f"{dataset}_copy")] == []


def test_typed_parameters_round_trip(bq: StandIn) -> None:
    q = BigQueryTask(
        name="echo_types",
        query_template="""
            SELECT @s AS s, @i + 1 AS i, @f * 2 AS f, NOT @b AS b, @d AS d, @ts AS ts, @num AS num,
                   ARRAY_LENGTH(@ids) AS n_ids, @ids AS ids, @maybe IS NULL AS was_null
        """,
        inputs={
            "s": str,
            "i": int,
            "f": float,
            "b": bool,
            "d": datetime.date,
            "ts": datetime.datetime,
            "num": decimal.Decimal,
            "ids": list[int],
            "maybe": str | None,
        },
        output_dataframe_type=list,
        plugin_config=CONFIG,
    )
    ts = datetime.datetime(2024, 1, 2, 3, 4, 5, 600000, tzinfo=datetime.UTC)

    @env.task
    async def main() -> RowsOrTable:
        out: RowsOrTable = await q(
            s="héllo",
            i=41,
            f=1.25,
            b=False,
            d=datetime.date(2024, 2, 28),
            ts=ts,
            num=decimal.Decimal("12.5"),
            ids=[3, 1, 2],
            maybe=None,
        )
        return out

    [row] = run(main)
    assert row["s"] == "héllo" and row["i"] == 42 and row["f"] == 2.5 and row["b"] is True
    assert row["d"] == datetime.date(2024, 2, 28) and row["ts"] == ts
    assert row["num"] == decimal.Decimal("12.5") and row["n_ids"] == 3 and row["ids"] == [3, 1, 2]
    assert row["was_null"] is True
    types = {p["name"]: p["parameterType"] for p in bq.jobs(contains="flyte_")[-1]["queryParameters"]}
    assert types["ids"] == {"type": "ARRAY", "arrayType": {"type": "INT64"}}
    assert types["ts"] == {"type": "TIMESTAMP"} and types["d"] == {"type": "DATE"}
    assert types["num"] == {"type": "NUMERIC"} and types["b"] == {"type": "BOOL"}


def test_forward_outside_a_run_keeps_python_types(bq: StandIn, dataset: str) -> None:
    q = events_task(dataset, output_dataframe_type=list)
    rows = asyncio.run(q(ds="2024-01-02", limit=5))
    assert rows == [{"ds": "2024-01-02", "name": "ann", "n": 7}]
    when = BigQueryTask(
        name="when", query_template="SELECT @d AS d", inputs={"d": datetime.date}, plugin_config=CONFIG
    )
    assert asyncio.run(when(d=datetime.date(2024, 3, 1)))["d"].tolist() == [datetime.date(2024, 3, 1)]


# ---- outputs ----------------------------------------------------------------------------------------
def test_large_result_is_a_table_reference_read_downstream(bq: StandIn, client: Any) -> None:
    numbers = BigQueryTask(
        name="numbers",
        query_template="""
            SELECT x, CONCAT('row-', CAST(x AS STRING)) AS label FROM UNNEST(GENERATE_ARRAY(1, @n)) AS x
        """,
        inputs={"n": int},
        plugin_config=CONFIG,
        max_inline_io_bytes=64 * 1024,
    )

    @env.task
    async def summarize(result: DataFrameOrTable) -> dict[str, Any]:
        df = to_pandas(result)
        kind = "table" if isinstance(result, BigQueryTable) else "rows"
        uri = result.uri if isinstance(result, BigQueryTable) else ""
        return {"kind": kind, "rows": len(df), "sum": int(df["x"].sum()), "uri": uri}

    @env.task
    async def main(small: int, large: int) -> list[dict[str, Any]]:
        return [await summarize(await numbers(n=small)), await summarize(await numbers(n=large))]

    small, large = run(main, small=100, large=20_000)
    assert small == {"kind": "rows", "rows": 100, "sum": 5050, "uri": ""}
    assert large["kind"] == "table" and large["rows"] == 20_000 and large["sum"] == 20_000 * 20_001 // 2
    assert large["uri"].startswith(f"bq://{PROJECT}.")
    ref = BigQueryTable(uri=large["uri"])
    assert client.get_table(ref.table_ref()).num_rows == 20_000  # a real table, readable by anyone


def test_reference_output_type_and_destination_table(bq: StandIn, client: Any, dataset: str) -> None:
    from google.cloud import bigquery

    job_config = bigquery.QueryJobConfig(
        destination=f"{PROJECT}.{dataset}.daily", write_disposition="WRITE_TRUNCATE"
    )
    snapshot = events_task(
        dataset,
        name="snapshot",
        output_dataframe_type=BigQueryTable,
        plugin_config=BigQueryConfig(ProjectID=PROJECT, Location="US", QueryJobConfig=job_config),
    )

    @env.task
    async def read(table: BigQueryTable) -> list[dict[str, Any]]:
        return to_rows(table)

    @env.task
    async def main(ds: str) -> list[dict[str, Any]]:
        table = await snapshot(ds=ds, limit=10)
        assert table.uri == f"bq://{PROJECT}.{dataset}.daily" and table.num_rows == 2
        assert table.columns == ("ds", "name", "n")
        return await read(table)

    assert run(main, ds="2024-01-01") == [
        {"ds": "2024-01-01", "name": "ann", "n": 3},
        {"ds": "2024-01-01", "name": "bob", "n": 5},
    ]
    assert client.get_table(f"{dataset}.daily").num_rows == 2


def test_ddl_and_dml_without_output(bq: StandIn, client: Any, dataset: str) -> None:
    add = BigQueryTask(
        name="add_event",
        query_template=f"INSERT INTO {dataset}.events (ds, name, n) VALUES (@ds, @name, @n)",
        inputs={"ds": str, "name": str, "n": int},
        output_dataframe_type=None,
        plugin_config=CONFIG,
    )

    @env.task
    async def main() -> None:
        await add(ds="2024-01-03", name="cy", n=11)

    run(main)
    rows = list(client.query(f"SELECT name, n FROM {dataset}.events WHERE ds = '2024-01-03'").result())
    assert [(r.name, r.n) for r in rows] == [("cy", 11)]


# ---- errors -----------------------------------------------------------------------------------------
def _failed(task: Any, **inputs: Any) -> BaseException:
    with pytest.raises(Exception) as failed:
        flyte.run(task, **inputs)
    r = failed.value.flyte_run  # type: ignore[attr-defined]
    assert r.status == "FAILED"
    assert r.error is not None
    return r.error


def test_sql_error_has_bigquery_text_and_task_name(bq: StandIn, dataset: str) -> None:
    broken = BigQueryTask(
        name="broken_sql",
        query_template="SELEC ds FROM t WHERE ds = @ds",
        inputs={"ds": str},
        plugin_config=CONFIG,
    )
    missing = BigQueryTask(
        name="missing_table",
        query_template=f"SELECT * FROM {dataset}.nope WHERE ds = @ds",
        inputs={"ds": str},
        plugin_config=CONFIG,
    )

    @env.task
    async def main(which: str) -> str:
        t = broken if which == "broken" else missing
        try:
            await t(ds="2024-01-01")
        except BigQueryInvalidError as e:
            return f"{e.reason}|{e}"
        return "no error"

    text = run(main, which="broken")
    assert text.startswith("invalidQuery|BigQuery task 'broken_sql': Syntax error") and "[1:" in text
    text = run(main, which="missing")
    assert text.startswith("notFound|BigQuery task 'missing_table': Not found") and "nope" in text
    # non-recoverable: not retried, even with retries
    with pytest.raises(Exception) as failed:
        flyte.run(missing.override(retries=3), ds="x")
    r = failed.value.flyte_run  # type: ignore[attr-defined]
    assert r.status == "FAILED" and isinstance(r.error, BigQueryInvalidError)
    assert len(bq.jobs(contains=r.name)) == 1


def test_parameter_of_the_wrong_type(bq: StandIn, dataset: str) -> None:
    q = events_task(dataset)

    @env.task
    async def main(limit: str) -> str:
        try:
            await q(ds="2024-01-01", limit=limit)  # type: ignore[arg-type]
        except RuntimeDataValidationError as e:
            return str(e)
        return "no error"

    # in Python: the input is validated before any job is submitted
    before = len(bq.jobs())
    text = run(main, limit="ten")
    assert "'events_for_day'" in text and "'limit'" in text and "expected int, got str" in text
    assert len(bq.jobs()) == before
    # in SQL: an INT64 parameter compared with a STRING column fails in BigQuery, with its text
    wrong = BigQueryTask(
        name="wrong_param_type",
        query_template=f"SELECT * FROM {dataset}.events WHERE ds = @day",
        inputs={"day": int},
        plugin_config=CONFIG,
    )
    err = _failed(wrong, day=20240101)
    assert isinstance(err, BigQueryError) and err.reason == "invalidQuery"
    assert str(err).startswith("BigQuery task 'wrong_param_type': ") and "INT64" in str(err)


def test_no_project(bq: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "")
    no_project = BigQueryTask(
        name="no_project", query_template="SELECT 1 AS one", plugin_config=BigQueryConfig()
    )
    err = _failed(no_project)
    assert isinstance(err, BigQueryInvalidError)
    assert "BigQuery task 'no_project': no project: Project was not passed" in str(err)
    assert "BigQueryConfig(ProjectID=...)" in str(err)
    # the standard chain: GOOGLE_CLOUD_PROJECT names the project when the config does not
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    assert run(no_project)["one"].tolist() == [1]


def test_endpoint_from_config(stand_in: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BIGQUERY_EMULATOR_HOST", raising=False)
    q = BigQueryTask(
        name="via_config",
        query_template="SELECT @x * 2 AS y",
        inputs={"x": int},
        output_dataframe_type=list,
        plugin_config=BigQueryConfig(ProjectID=PROJECT, Endpoint=stand_in.endpoint),
    )
    assert run(q, x=21) == [{"y": 42}]
    assert q.custom_config()["Endpoint"] == stand_in.endpoint


def test_unreachable_endpoint_fails_with_the_task_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import free_port

    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
    q = BigQueryTask(
        name="nowhere",
        query_template="SELECT 1",
        plugin_config=BigQueryConfig(ProjectID=PROJECT),
        timeout=20,
    )
    from flyteplugins.bigquery import _connector

    monkeypatch.setattr(_connector, "API_RETRY_DEADLINE_S", 1.0)
    err = _failed(q)
    assert "BigQuery task 'nowhere'" in str(err)
