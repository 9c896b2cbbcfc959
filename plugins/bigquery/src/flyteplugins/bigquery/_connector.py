"""The BigQuery connector: ``create`` submits a query job (jobs.insert), ``get`` reads its state
(jobs.get) and, once it is done, its result (jobs.getQueryResults), ``delete`` cancels it
(jobs.cancel). All through google-cloud-bigquery, on threads (the client is blocking).

The controller records what ``create`` returns (project, location, job ID...) in the journal before
it polls, so a run recovered after a crash re-attaches to the job instead of submitting it again.
Job IDs are derived from the run, the action and the attempt, so a crash between jobs.insert and
that record is covered as well: submitting the same job again answers "already exists", and the
existing job is adopted when it is the same query with the same parameters.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from flyte.extend import ExecutionContext, Resource, ResourceMeta
from flyteplugins.bigquery._config import BigQueryConfig, make_client, resolve_endpoint
from flyteplugins.bigquery._errors import BigQueryError, BigQueryInvalidError, from_api_error, job_error
from flyteplugins.bigquery._params import to_query_parameters
from flyteplugins.bigquery._table import BigQueryTable, rows_to_dataframe

if TYPE_CHECKING:
    from flyteplugins.bigquery._task import BigQueryTask

logger = logging.getLogger("flyteplugins.bigquery")
META_KIND = "bigquery_query_job"
API_RETRY_DEADLINE_S = 60.0
"""How long one API call (submit, poll, cancel) is retried while the endpoint fails or cannot be
reached (google-cloud-bigquery's own default is 600 s)."""
PAGE_ROWS = 10_000
_INSTALL_HINT = "BigQuery tasks need google-cloud-bigquery: pip install flyte-plugin-bigquery"


class BigQueryConnector:
    """``create`` / ``get`` / ``delete`` for BigQuery query jobs (see ``flyte.extend.Connector``)."""

    async def create(
        self, task: BigQueryTask, inputs: dict[str, Any], ctx: ExecutionContext | None
    ) -> ResourceMeta:
        """Submit the query job (jobs.insert) and return what identifies it."""
        return await asyncio.to_thread(_submit, task, inputs, _job_id(ctx))

    async def get(self, meta: ResourceMeta) -> Resource:
        """The job's phase; once it succeeded, its result (rows, or a reference to its table)."""
        return await asyncio.to_thread(_poll, meta.data)

    def delete(self, meta: ResourceMeta) -> Awaitable[None]:
        """Cancel the job (jobs.cancel); a job that already finished or is gone is left alone.

        The request starts on a thread at once, before anything is awaited: a run that ends (or an
        event loop that shuts down) right after cancelling the action still sends it.
        """
        return asyncio.get_running_loop().run_in_executor(None, _cancel, meta.data)


# ---- create -----------------------------------------------------------------------------------------
def _job_id(ctx: ExecutionContext | None) -> str:
    """``flyte_<run>_<action>_<attempt>_<hash of the run's store prefix>`` inside a run (the same job
    ID when the same attempt is submitted again after a crash), random outside one."""
    if ctx is None:
        return f"flyte_{uuid.uuid4().hex}"
    salt = hashlib.blake2b(ctx.run_prefix.encode(), digest_size=4).hexdigest()
    run = re.sub(r"[^A-Za-z0-9_-]", "_", ctx.run_name)[:200]
    return f"flyte_{run}_{ctx.action_id}_{ctx.attempt}_{salt}"


def _client(task: str, config: BigQueryConfig, endpoint: str | None) -> Any:
    try:
        return make_client(config.ProjectID, config.Location, endpoint, config.google_application_credentials)
    except LookupError as e:  # the credentials secret is missing or malformed
        raise BigQueryInvalidError(f"BigQuery task {task!r}: {e}", task=task, reason="accessDenied") from e
    except ImportError as e:
        raise BigQueryInvalidError(f"BigQuery task {task!r}: {_INSTALL_HINT} ({e})", task=task) from e
    except OSError as e:  # "Project was not passed and could not be determined from the environment."
        raise BigQueryInvalidError(
            f"BigQuery task {task!r}: no project: {e} Set BigQueryConfig(ProjectID=...) or the "
            "GOOGLE_CLOUD_PROJECT environment variable.",
            task=task,
            reason="invalid",
        ) from e
    except Exception as e:
        if type(e).__name__ == "DefaultCredentialsError":
            raise BigQueryInvalidError(
                f"BigQuery task {task!r}: no Google credentials: {e}", task=task, reason="accessDenied"
            ) from e
        raise


def _job_config(task: BigQueryTask, inputs: dict[str, Any]) -> Any:
    from google.cloud import bigquery

    config = task.config_
    job_config: Any = (
        bigquery.QueryJobConfig.from_api_repr(copy.deepcopy(config.job_config_repr()))
        if config.QueryJobConfig is not None
        else bigquery.QueryJobConfig()
    )
    params = to_query_parameters(dict(task.inputs), inputs)
    if params:
        if job_config.use_legacy_sql:
            raise BigQueryInvalidError(
                f"BigQuery task {task.name!r}: query parameters need GoogleSQL; the QueryJobConfig sets "
                "use_legacy_sql=True",
                task=task.name,
                reason="invalid",
            )
        job_config.query_parameters = list(job_config.query_parameters or []) + params
    if job_config.use_legacy_sql is None:
        job_config.use_legacy_sql = False
    return job_config


def _submit(task: BigQueryTask, inputs: dict[str, Any], job_id: str) -> ResourceMeta:
    from google.api_core import exceptions as gexc

    config = task.config_
    endpoint = resolve_endpoint(config)
    client = _client(task.name, config, endpoint)
    job_config = _job_config(task, inputs)
    try:
        job = client.query(
            task.query_template,
            job_config=job_config,
            job_id=job_id,
            location=config.Location,
            project=client.project,
            retry=_retry(),
            job_retry=None,
        )
    except gexc.Conflict:
        job = _adopt(task, client, job_config, job_id, config)
    except gexc.GoogleAPICallError as e:
        raise from_api_error(task.name, e, job_id=job_id) from e
    except BigQueryError:
        raise
    except Exception as e:  # the endpoint could not be reached, bad parameter values...
        raise from_api_error(task.name, e, job_id=job_id) from e
    return ResourceMeta(
        kind=META_KIND,
        data={
            "task": task.name,
            "project": job.project,
            "location": job.location,
            "job_id": job.job_id,
            "endpoint": endpoint,
            "output": task.output_kind,
            "credentials_secret": config.google_application_credentials,
            "max_inline_bytes": task.max_inline_io_bytes,
        },
    )


def _adopt(task: BigQueryTask, client: Any, job_config: Any, job_id: str, config: BigQueryConfig) -> Any:
    """jobs.insert said the job exists: an earlier submission of this very attempt (a crash came
    before its record). Use it when it is the same query with the same parameters and did not fail;
    otherwise (a failed earlier execution of this action, in a recovered run) submit a new job."""
    job = client.get_job(job_id, project=client.project, location=config.Location)
    same_query = job.query == task.query_template
    sent = [p.to_api_repr() for p in job_config.query_parameters or []]
    same_params = json.dumps(sent, sort_keys=True, default=str) == json.dumps(
        [p.to_api_repr() for p in job.query_parameters or []], sort_keys=True, default=str
    )
    if same_query and same_params and job.error_result is None:
        return job
    if not (same_query and same_params):
        raise BigQueryInvalidError(
            f"BigQuery task {task.name!r}: job ID {job_id} is already used by another query job",
            task=task.name,
            reason="duplicate",
            job_id=job_id,
        )
    return client.query(
        task.query_template,
        job_config=job_config,
        job_id=f"{job_id}_{uuid.uuid4().hex[:8]}",
        location=config.Location,
        project=client.project,
        job_retry=None,
    )


def _retry() -> Any:
    from google.cloud.bigquery.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_deadline(API_RETRY_DEADLINE_S)


# ---- get --------------------------------------------------------------------------------------------
def _meta_client(data: dict[str, Any]) -> Any:
    endpoint = data.get("endpoint")
    config = BigQueryConfig(
        ProjectID=data["project"],
        Location=data.get("location"),
        google_application_credentials=data.get("credentials_secret"),
    )
    return _client(data["task"], config, endpoint)


def _full_id(data: dict[str, Any]) -> str:
    return f"{data['project']}:{data.get('location') or ''}.{data['job_id']}"


def _poll(data: dict[str, Any]) -> Resource:
    from google.api_core import exceptions as gexc

    task = data["task"]
    client = _meta_client(data)
    try:
        job = client.get_job(
            data["job_id"], project=data["project"], location=data.get("location"), retry=_retry()
        )
    except gexc.NotFound as e:
        err = job_error(task, "notFound", f"the query job is gone: {e.message}", job_id=_full_id(data))
        return Resource(phase="FAILED", message=str(err), error=err)
    except gexc.GoogleAPICallError as e:
        err = from_api_error(task, e, job_id=_full_id(data))
        if err.reason == "backendError":
            return Resource(phase="RUNNING", message=str(err))  # polled again with backoff
        return Resource(phase="FAILED", message=str(err), error=err)
    if job.state != "DONE":
        return Resource(phase="RUNNING", message=f"BigQuery job {_full_id(data)} is {job.state}")
    if job.error_result:
        result = job.error_result
        err = job_error(
            task,
            str(result.get("reason", "")),
            str(result.get("message", "")),
            job_id=_full_id(data),
            errors=[dict(e) for e in job.errors or []],
        )
        return Resource(phase="FAILED", message=str(err), error=err)
    try:
        outputs = _outputs(client, job, data)
    except BigQueryError as failed:
        return Resource(phase="FAILED", message=str(failed), error=failed)
    except gexc.GoogleAPICallError as e:
        api_err = from_api_error(task, e, job_id=_full_id(data))
        return Resource(phase="FAILED", message=str(api_err), error=api_err)
    return Resource(phase="SUCCEEDED", outputs=outputs, message=f"BigQuery job {_full_id(data)} is DONE")


def _reference(
    job: Any, data: dict[str, Any], num_rows: int | None, columns: list[str]
) -> BigQueryTable | None:
    dest = job.destination
    if dest is None:
        return None
    return BigQueryTable.of(
        dest.project,
        dest.dataset_id,
        dest.table_id,
        num_rows=num_rows,
        columns=tuple(columns),
        location=job.location,
        endpoint=data.get("endpoint"),
    )


def _outputs(client: Any, job: Any, data: dict[str, Any]) -> Any:
    """The task's output: nothing, a table reference, or the rows while they fit the inline limit."""
    kind = data.get("output", "rows")
    if kind == "none":
        return None
    task = data["task"]
    if kind == "table":
        if job.destination is None:
            raise job_error(
                task,
                "invalid",
                f"the {job.statement_type} statement wrote no result table; use output_dataframe_type=None",
                job_id=_full_id(data),
            )
        table = client.get_table(job.destination)
        return _reference(job, data, table.num_rows, [f.name for f in table.schema])
    if kind == "dataframe":
        return _dataframe(job)
    limit = int(data.get("max_inline_bytes") or 10 * 1024 * 1024)
    it = job.result(page_size=PAGE_ROWS, job_retry=None)
    columns = [f.name for f in it.schema or []]
    rows: list[dict[str, Any]] = []
    size = 2
    for row in it:  # page by page (jobs.getQueryResults); stops as soon as the limit is passed
        record = dict(row.items())
        size += len(json.dumps(record, default=str, separators=(",", ":"))) + 1
        if size > limit:
            ref = _reference(job, data, it.total_rows, columns)
            if ref is None:
                raise job_error(
                    task,
                    "invalid",
                    f"the result is larger than max_inline_io_bytes ({limit} bytes) and the job has no "
                    "destination table to refer to; raise the limit or set QueryJobConfig(destination=...)",
                    job_id=_full_id(data),
                )
            return ref
        rows.append(record)
    if kind == "pandas":
        return rows_to_dataframe(rows, columns)
    return rows


def _dataframe(job: Any) -> Any:
    """All the result's rows as a ``flyte.io.DataFrame`` (pandas, or pyarrow without pandas): it is
    stored as Parquet in the run's store when it leaves the task, so no inline limit applies."""
    import importlib.util

    from flyte.io import DataFrame

    it = job.result(page_size=PAGE_ROWS, job_retry=None)
    columns = [f.name for f in it.schema or []]
    rows = [dict(row.items()) for row in it]
    if importlib.util.find_spec("pandas") is not None:
        return DataFrame.from_df(rows_to_dataframe(rows, columns))
    import pyarrow as pa

    return DataFrame.from_df(pa.Table.from_pylist(rows) if rows else pa.table({c: [] for c in columns}))


# ---- delete -----------------------------------------------------------------------------------------
def _cancel(data: dict[str, Any]) -> None:
    """Never raises: it runs while the action is being cancelled, whose error must stay the cancellation."""
    from google.api_core import exceptions as gexc

    try:
        client = _meta_client(data)
        client.cancel_job(
            data["job_id"], project=data["project"], location=data.get("location"), retry=_retry()
        )
    except gexc.NotFound:
        pass
    except Exception as e:
        logger.warning("could not cancel BigQuery job %s: %s", _full_id(data), e)
