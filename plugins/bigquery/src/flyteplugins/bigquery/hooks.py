"""Entry point of the BigQuery plugin (``[project.entry-points."flyte.plugins"] bigquery = ...``).

Imports nothing but the hook marker: the task class and the connector are imported when flyte asks
for registrations, and google-cloud-bigquery only when a query job is submitted.
"""

from __future__ import annotations

from typing import Any

from flyte.extend import hookimpl


@hookimpl
def flyte_register_task_types(registry: Any) -> None:
    from flyteplugins.bigquery._connector import BigQueryConnector
    from flyteplugins.bigquery._task import TASK_TYPE, BigQueryTask

    # A connector backend: the controller calls create (jobs.insert), records the job in the journal,
    # polls get (job state) with backoff and calls delete (jobs.cancel) on cancellation or timeout.
    registry.add(TASK_TYPE, 0, BigQueryTask, backend=BigQueryConnector)
