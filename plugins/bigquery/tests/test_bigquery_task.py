"""BigQueryTask without a server: definition-time checks, the serialised spec, parameter typing, and
discovery through the plugin's entry point (which imports nothing heavy)."""

from __future__ import annotations

import datetime
import decimal
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flyte.errors import InvalidParameterError
from flyteplugins.bigquery import (
    BigQueryConfig,
    BigQueryTable,
    BigQueryTask,
    DataFrameOrTable,
    RowsOrTable,
)
from flyteplugins.bigquery._params import referenced_parameters, to_query_parameters

GOLDEN = Path(__file__).parent / "golden" / "daily_events.spec.json"


def _task(**kw: Any) -> BigQueryTask:
    args: dict[str, Any] = {
        "name": "daily_events",
        "query_template": """
            SELECT ds, name, n FROM analytics.events
            WHERE ds = @ds
            LIMIT @limit
        """,
        "inputs": {"ds": str, "limit": int},
        "plugin_config": BigQueryConfig(ProjectID="my-project", Location="US"),
    }
    args.update(kw)
    return BigQueryTask(**args)


def test_task_type_sql_and_custom_config() -> None:
    from google.cloud import bigquery

    job_config = bigquery.QueryJobConfig(maximum_bytes_billed=10**9, labels={"team": "data"})
    t = _task(plugin_config=BigQueryConfig(ProjectID="my-project", Location="EU", QueryJobConfig=job_config))
    assert t.task_type == "bigquery_query_job_task"
    # flyte-sdk's forms: the query on one line, the QueryJobConfig's query fields at the top level.
    assert t.sql() == "SELECT ds, name, n FROM analytics.events WHERE ds = @ds LIMIT @limit"
    assert t.sql().statement == t.sql() and t.sql().dialect == "ANSI"
    cfg = t.custom_config()
    assert cfg["ProjectID"] == "my-project" and cfg["Location"] == "EU" and cfg["Domain"] == "development"
    assert cfg["maximumBytesBilled"] == str(10**9)
    assert cfg["Parameters"] == {"ds": "STRING", "limit": "INT64"}
    assert t.interface.input_names == ("ds", "limit")
    assert t.interface.output is DataFrameOrTable  # pandas is installed with the test extra


def test_spec_golden() -> None:
    spec = _task().spec().model_dump(mode="json")
    for key in ("identity", "version"):
        spec.pop(key)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
    assert spec == json.loads(GOLDEN.read_text()), "spec changed; rerun with UPDATE_GOLDEN=1 if intended"


def test_identity_follows_the_query_and_config_not_the_object() -> None:
    assert _task().identity == _task().identity
    assert _task().identity != _task(query_template="SELECT @ds, @limit").identity
    other = BigQueryConfig(ProjectID="other", Location="US")
    assert _task().identity != _task(plugin_config=other).identity


@pytest.mark.parametrize(
    ("output", "kind", "hint"),
    [
        ("auto", "pandas", DataFrameOrTable),
        (list, "rows", RowsOrTable),
        (list[dict[str, Any]], "rows", RowsOrTable),
        (BigQueryTable, "table", BigQueryTable),
        (None, "none", None),
    ],
)
def test_output_types(output: Any, kind: str, hint: Any) -> None:
    t = _task(output_dataframe_type=output)
    assert t.output_kind == kind
    assert t.interface.output == hint


def test_pandas_output_type() -> None:
    import pandas as pd

    assert _task(output_dataframe_type=pd.DataFrame).output_kind == "pandas"


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"inputs": {"ds": str}}, r"uses @limit \(line 3\) but the task declares no input 'limit'"),
        ({"inputs": {"ds": str, "limit": dict}}, r"inputs\['limit'\].*Supported types"),
        ({"inputs": {"ds": str, "limit": int, "bad-name": str}}, "query parameter names"),
        ({"query_template": "SELECT * FROM `{{ .inputs.ds }}` LIMIT @limit"}, "not inside a longer string"),
        ({"query_template": "SELECT * FROM t WHERE ds = 'd{{ .ds }}' LIMIT @limit"}, "a table name"),
        ({"query_template": "  "}, "query_template"),
        ({"plugin_config": {"ProjectID": "p"}}, "BigQueryConfig"),
        ({"output_dataframe_type": dict}, "output_dataframe_type"),
    ],
)
def test_definition_errors_name_the_parameter_and_the_fix(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match) as e:
        _task(**kw)
    assert "daily_events" in str(e.value)


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="ProjectID"):
        BigQueryConfig(ProjectID="")
    with pytest.raises(ValueError, match="QueryJobConfig"):
        BigQueryConfig(QueryJobConfig={"query": {}})


def test_parameters_in_query_job_config_count_as_declared() -> None:
    from google.cloud import bigquery

    cfg = bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("region", "STRING", "eu")])
    t = _task(
        query_template="SELECT * FROM t WHERE ds = @ds AND region = @region LIMIT @limit",
        plugin_config=BigQueryConfig(ProjectID="p", QueryJobConfig=cfg),
    )
    assert t.custom_config()["queryParameters"][0]["name"] == "region"  # flyte-sdk's shape
    with pytest.raises(InvalidParameterError, match="both an input and in QueryJobConfig"):
        _task(
            inputs={"ds": str, "limit": int, "region": str}, plugin_config=BigQueryConfig(QueryJobConfig=cfg)
        )


def test_references_skip_strings_identifiers_comments_and_system_variables() -> None:
    sql = """SELECT '@a', "@b", '''@c
    ''', r'\\@d', `@e`, @@project_id -- @f
    /* @g
    */ # @h
    FROM t WHERE x = @real AND y IN UNNEST(@list) AND z = 'it\\'s @i'"""
    assert referenced_parameters(sql) == [("real", 5), ("list", 5)]


def test_inputs_become_typed_query_parameters() -> None:
    types_ = {
        "s": str,
        "i": int,
        "f": float,
        "b": bool,
        "d": datetime.date,
        "ts": datetime.datetime,
        "t": datetime.time,
        "num": decimal.Decimal,
        "raw": bytes,
        "ids": list[int],
        "maybe": str | None,
    }
    values = {
        "s": "x'; DROP TABLE t; --",
        "i": 7,
        "f": 1.5,
        "b": True,
        "d": datetime.date(2024, 1, 2),
        "ts": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        "t": datetime.time(1, 2, 3),
        "num": decimal.Decimal("1.25"),
        "raw": b"\x00\x01",
        "ids": [1, 2],
        "maybe": None,
    }
    reprs = {p.name: p.to_api_repr() for p in to_query_parameters(types_, values)}
    assert {k: v["parameterType"] for k, v in reprs.items()} == {
        "s": {"type": "STRING"},
        "i": {"type": "INT64"},
        "f": {"type": "FLOAT64"},
        "b": {"type": "BOOL"},
        "d": {"type": "DATE"},
        "ts": {"type": "TIMESTAMP"},
        "t": {"type": "TIME"},
        "num": {"type": "NUMERIC"},
        "raw": {"type": "BYTES"},
        "ids": {"type": "ARRAY", "arrayType": {"type": "INT64"}},
        "maybe": {"type": "STRING"},
    }
    assert reprs["s"]["parameterValue"] == {"value": "x'; DROP TABLE t; --"}
    assert reprs["ids"]["parameterValue"] == {"arrayValues": [{"value": "1"}, {"value": "2"}]}
    assert reprs["maybe"]["parameterValue"] == {"value": None}


def test_table_reference_uri() -> None:
    t = BigQueryTable.of("example.com:proj", "ds", "tbl", num_rows=3)
    assert t.uri == "bq://example.com:proj.ds.tbl"
    assert (t.project, t.dataset, t.table_id) == ("example.com:proj", "ds", "tbl")
    with pytest.raises(ValueError, match=r"bq://project\.dataset\.table"):
        BigQueryTable(uri="bq://only.two")


def test_discovered_through_the_entry_point() -> None:
    from flyte._plugins.manager import load_plugins, task_type_entry

    state = load_plugins(reload=True)
    info = state.plugins["bigquery"]
    assert info.error is None, info.error
    assert info.distribution == "flyte-plugin-bigquery"
    assert "bigquery_query_job_task" in info.task_types
    entry = task_type_entry("bigquery_query_job_task", 0)
    assert entry.template_cls is BigQueryTask
    from flyteplugins.bigquery import BigQueryConnector

    assert entry.backend is BigQueryConnector


def test_hooks_import_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from flyte._plugins.manager import load_plugins\n"
        "state = load_plugins(reload=True)\n"
        "assert state.plugins['bigquery'].error is None, state.plugins['bigquery'].error\n"
        "mods = ('google.cloud.bigquery', 'pandas', 'pyarrow', 'duckdb', 'sqlglot')\n"
        "heavy = [m for m in mods if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
