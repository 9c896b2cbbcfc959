"""Tasks for the durability tests, run in subprocesses that the tests kill or interrupt.

The BigQuery stand-in server is reached through ``BIGQUERY_EMULATOR_HOST``; the tests create the
``durable`` dataset before they start a run.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from typing import Any

import flyte
from flyte.errors import TaskTimeoutError
from flyteplugins.bigquery import BigQueryConfig, BigQueryTask

DATASET = "durable"
env = flyte.TaskEnvironment(name="bq_durable")


def _config() -> BigQueryConfig:
    from google.cloud import bigquery

    # The table is named through the job's default dataset (QueryJobConfig); values are parameters.
    job_config = bigquery.QueryJobConfig(default_dataset=f"flyte-tests.{DATASET}")
    return BigQueryConfig(ProjectID="flyte-tests", Location="US", QueryJobConfig=job_config)


count_events = BigQueryTask(
    name="count_events",
    query_template="SELECT ds, COUNT(*) AS events, SUM(n) AS total FROM events WHERE ds = @ds GROUP BY ds",
    inputs={"ds": str},
    output_dataframe_type=list,
    plugin_config=_config(),
)


@env.task
async def main(ds: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await count_events(ds=ds)
    return rows


def _running_jobs(run_name: str) -> list[dict[str, Any]]:
    url = "http://" + os.environ["BIGQUERY_EMULATOR_HOST"] + "/_stand_in/jobs"
    with urllib.request.urlopen(url, timeout=5) as r:
        jobs = json.loads(r.read())["jobs"]
    return [j for j in jobs if run_name in j["jobId"] and j["state"] == "RUNNING"]


@env.task
async def fail_while_querying(ds: str) -> int:
    """Starts the query, waits until BigQuery runs it, then fails: the job must be cancelled."""
    tctx = flyte.ctx()
    assert tctx
    query = asyncio.ensure_future(count_events.aio(ds=ds))
    while not _running_jobs(tctx.run_name):
        await asyncio.sleep(0.05)
    if query.done():
        return len(query.result())
    raise RuntimeError("the parent failed while its query was running")


@env.task
async def with_timeout(ds: str) -> str:
    """The query outlives its task's timeout: the job must be cancelled."""
    try:
        await count_events.override(timeout=1)(ds=ds)
    except TaskTimeoutError as e:
        return f"timed out: {type(e).__name__}"
    return "finished"
