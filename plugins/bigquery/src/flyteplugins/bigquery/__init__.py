"""flyte-plugin-bigquery: BigQuery query jobs as flyte tasks (task type ``bigquery_query_job_task``).

from flyteplugins.bigquery import BigQueryConfig, BigQueryTask

daily = BigQueryTask(
    name="daily_events",
    query_template="SELECT * FROM analytics.events WHERE ds = @ds LIMIT @limit",
    inputs={"ds": str, "limit": int},
    plugin_config=BigQueryConfig(ProjectID="my-project", Location="US"),
)
df = await daily(ds="2024-01-01", limit=10)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "BigQueryConfig": "flyteplugins.bigquery._config",
    "BigQueryTask": "flyteplugins.bigquery._task",
    "BigQueryConnector": "flyteplugins.bigquery._connector",
    "BigQueryError": "flyteplugins.bigquery._errors",
    "BigQueryInvalidError": "flyteplugins.bigquery._errors",
    "BigQueryTable": "flyteplugins.bigquery._table",
    "DataFrameOrTable": "flyteplugins.bigquery._table",
    "RowsOrTable": "flyteplugins.bigquery._table",
    "to_pandas": "flyteplugins.bigquery._table",
    "to_rows": "flyteplugins.bigquery._table",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # Lazy, so that importing the hooks module (at plugin discovery) stays cheap.
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flyteplugins.bigquery' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


if TYPE_CHECKING:
    from flyteplugins.bigquery._config import BigQueryConfig as BigQueryConfig
    from flyteplugins.bigquery._connector import BigQueryConnector as BigQueryConnector
    from flyteplugins.bigquery._errors import BigQueryError as BigQueryError
    from flyteplugins.bigquery._errors import BigQueryInvalidError as BigQueryInvalidError
    from flyteplugins.bigquery._table import BigQueryTable as BigQueryTable
    from flyteplugins.bigquery._table import DataFrameOrTable as DataFrameOrTable
    from flyteplugins.bigquery._table import RowsOrTable as RowsOrTable
    from flyteplugins.bigquery._table import to_pandas as to_pandas
    from flyteplugins.bigquery._table import to_rows as to_rows
    from flyteplugins.bigquery._task import BigQueryTask as BigQueryTask
