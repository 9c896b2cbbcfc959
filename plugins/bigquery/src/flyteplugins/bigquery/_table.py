"""Query results at task boundaries: rows (a pandas DataFrame or a list of dicts) when they are small,
a reference to the destination table (``bq://project.dataset.table``) when they are not.

``BigQueryTable`` is that reference: a small JSON-able record in the journal. A downstream task
declares an input of the same type as the BigQuery task's output (``DataFrameOrTable``,
``RowsOrTable`` or ``BigQueryTable``) and reads it with ``to_pandas`` / ``to_rows``, which fetch the
rows of a reference through the BigQuery API (``tabledata.list``) and pass rows through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PANDAS_DF_TYPES = ("pandas.core.frame.DataFrame", "pandas.DataFrame")
"""pandas 3 reports its DataFrame's module as ``pandas``; earlier versions as ``pandas.core.frame``."""


def is_pandas_dataframe(value: Any) -> bool:
    """Checked by class path, so that validating a value never imports pandas."""
    return any(f"{c.__module__}.{c.__qualname__}" in PANDAS_DF_TYPES for c in type(value).__mro__)


@dataclass(frozen=True)
class BigQueryTable:
    """A BigQuery table holding a query's result: ``uri`` is ``bq://project.dataset.table``.

    ``endpoint`` is the API endpoint the table lives behind when it is not Google's (an emulator).
    Query results without a configured destination live in BigQuery's anonymous tables, which
    expire after about 24 hours; set ``QueryJobConfig(destination=...)`` for a durable table.
    """

    uri: str
    num_rows: int | None = None
    columns: tuple[str, ...] = ()
    location: str | None = None
    endpoint: str | None = None

    def __post_init__(self) -> None:
        parse_uri(self.uri)

    @classmethod
    def of(cls, project: str, dataset: str, table: str, **kw: Any) -> BigQueryTable:
        return cls(uri=f"bq://{project}.{dataset}.{table}", **kw)

    @property
    def project(self) -> str:
        return parse_uri(self.uri)[0]

    @property
    def dataset(self) -> str:
        return parse_uri(self.uri)[1]

    @property
    def table_id(self) -> str:
        return parse_uri(self.uri)[2]

    def table_ref(self) -> Any:
        """The ``google.cloud.bigquery.TableReference`` of this table."""
        from google.cloud.bigquery import DatasetReference, TableReference

        project, dataset, table = parse_uri(self.uri)
        return TableReference(DatasetReference(project, dataset), table)

    def client(self) -> Any:
        """A client for the table's project (anonymous credentials when it lives behind an emulator)."""
        from flyteplugins.bigquery._config import make_client, resolve_endpoint

        return make_client(self.project, self.location, self.endpoint or resolve_endpoint(None))

    def to_rows(self, client: Any = None, max_rows: int | None = None) -> list[dict[str, Any]]:
        """The table's rows as dicts (``tabledata.list``, page by page)."""
        c = client or self.client()
        return [dict(row.items()) for row in c.list_rows(self.table_ref(), max_results=max_rows)]

    def to_pandas(self, client: Any = None, max_rows: int | None = None) -> Any:
        """The table as a pandas DataFrame."""
        c = client or self.client()
        table = c.get_table(self.table_ref())
        rows = c.list_rows(table, max_results=max_rows)
        return rows_to_dataframe([dict(r.items()) for r in rows], [f.name for f in table.schema])


def parse_uri(uri: str) -> tuple[str, str, str]:
    """``bq://project.dataset.table`` -> (project, dataset, table); the project may hold dots and
    colons (``example.com:project``), so the dataset and table are taken from the right."""
    if not isinstance(uri, str) or not uri.startswith("bq://"):
        raise ValueError(f"expected a bq://project.dataset.table URI, got {uri!r}")
    parts = uri[len("bq://") :].rsplit(".", 2)
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"expected a bq://project.dataset.table URI, got {uri!r}")
    return parts[0], parts[1], parts[2]


def rows_to_dataframe(rows: list[dict[str, Any]], columns: list[str]) -> Any:
    try:
        import pandas as pd
    except ImportError as e:
        raise ImportError(
            "Reading BigQuery results as pandas needs: pip install 'flyte-plugin-bigquery[pandas]'"
        ) from e
    return pd.DataFrame.from_records(rows, columns=columns) if rows else pd.DataFrame(columns=columns)


def to_pandas(value: Any) -> Any:
    """A pandas DataFrame from a BigQuery task's output: a DataFrame as is, rows converted, a
    ``BigQueryTable`` read from BigQuery."""
    if is_pandas_dataframe(value):
        return value
    if isinstance(value, BigQueryTable):
        return value.to_pandas()
    if isinstance(value, list):
        columns = list(value[0]) if value else []
        return rows_to_dataframe(value, columns)
    raise TypeError(f"expected a DataFrame, a list of rows or a BigQueryTable, got {type(value).__name__}")


def to_rows(value: Any) -> list[dict[str, Any]]:
    """A list of dict rows from a BigQuery task's output (DataFrame, rows or ``BigQueryTable``)."""
    if isinstance(value, list):
        return value
    if isinstance(value, BigQueryTable):
        return value.to_rows()
    if is_pandas_dataframe(value):
        return value.to_dict(orient="records")  # type: ignore[no-any-return]
    raise TypeError(f"expected a DataFrame, a list of rows or a BigQueryTable, got {type(value).__name__}")


# ---- output types ---------------------------------------------------------------------------------
def _validate_df_or_table(value: Any) -> Any:
    if is_pandas_dataframe(value) or isinstance(value, BigQueryTable):
        return value
    if isinstance(value, dict) and isinstance(value.get("bigquery_table"), dict):  # decoded from the journal
        data = dict(value["bigquery_table"])
        data["columns"] = tuple(data.get("columns") or ())
        return BigQueryTable(**data)
    raise ValueError(f"expected a pandas.DataFrame or a BigQueryTable, got {type(value).__name__}")


def _serialize_df_or_table(value: Any) -> Any:
    if isinstance(value, BigQueryTable):
        return {
            "bigquery_table": {
                "uri": value.uri,
                "num_rows": value.num_rows,
                "columns": list(value.columns),
                "location": value.location,
                "endpoint": value.endpoint,
            }
        }
    # DataFrames keep the core's default encoding for values without a JSON form (cloudpickle).
    raise TypeError("pandas DataFrames have no JSON form")


class DataFrameOrTable:
    """The output type of a BigQuery task with ``output_dataframe_type=pandas.DataFrame``: a pandas
    DataFrame, or a ``BigQueryTable`` when the result is larger than ``max_inline_io_bytes``.
    Declare a downstream input with this type and read it with ``to_pandas``."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(
            _validate_df_or_table,
            serialization=core_schema.plain_serializer_function_ser_schema(_serialize_df_or_table),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        from pydantic import TypeAdapter

        return {
            "title": "DataFrameOrTable",
            "anyOf": [
                {"x-flyte-type": "pandas.DataFrame"},
                {
                    "type": "object",
                    "properties": {"bigquery_table": TypeAdapter(BigQueryTable).json_schema()},
                },
            ],
        }


RowsOrTable = list[dict[str, Any]] | BigQueryTable
"""The output type of a BigQuery task with ``output_dataframe_type=list``: rows as dicts, or a
``BigQueryTable`` when the result is larger than ``max_inline_io_bytes``."""
