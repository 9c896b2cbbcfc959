"""A BigQuery REST API emulator for local development and tests, on 127.0.0.1 by default.

Google's cloud is not needed: this small server stands in for it.
It speaks the BigQuery v2 REST API (JSON shapes as documented and as ``google-cloud-bigquery`` reads
them) to the real, unmodified client, with DuckDB as the SQL engine and sqlglot translating
GoogleSQL into DuckDB's dialect. Query parameters stay parameters: each ``@name`` becomes a typed,
bound DuckDB parameter (``CAST($name AS <type>)``), never text in the SQL.

Implemented: datasets (insert/get/list/delete), tables (get/list/delete, tabledata.list with
paging), jobs (insert for query jobs with named parameters and scripts, get, list, cancel,
getQueryResults with paging). Query results go to the configured destination table (write and
create dispositions) or to an anonymous table in a hidden dataset, as in BigQuery.

Test knobs (not part of BigQuery, under ``/_stand_in/``): ``POST /_stand_in/hold {"hold": true}``
keeps new jobs RUNNING until ``POST /_stand_in/release {"jobId": ...}`` (all held jobs without a
``jobId``) or a ``jobs.cancel``, and with ``"insert_reply_delay": <seconds>`` answers jobs.insert
only that long after the job exists (a submission in flight); ``GET /_stand_in/jobs`` lists every job
with its query and parameters as received; ``GET /_stand_in/requests`` the API calls received.

Run it with ``python -m flyteplugins.bigquery.emulator`` (see ``__main__``); it prints
``LISTENING <port>`` once it accepts requests.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import duckdb
import sqlglot
from sqlglot import exp

API_PREFIX = "/bigquery/v2"
ANON_DATASET = "_stand_in_anonymous"
DEFAULT_LOCATION = "US"
DEFAULT_PAGE_ROWS = 10_000
_STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
}
_REASON_CODE = {"invalidQuery": 400, "invalid": 400, "notFound": 404, "duplicate": 409, "stopped": 400}

# GoogleSQL parameter type -> DuckDB type of the bound value
_PARAM_DUCK_TYPES = {
    "STRING": "VARCHAR",
    "INT64": "BIGINT",
    "INTEGER": "BIGINT",
    "FLOAT64": "DOUBLE",
    "FLOAT": "DOUBLE",
    "BOOL": "BOOLEAN",
    "BOOLEAN": "BOOLEAN",
    "NUMERIC": "DECIMAL(38, 9)",
    "BIGNUMERIC": "DECIMAL(38, 9)",
    "DATE": "DATE",
    "DATETIME": "TIMESTAMP",
    "TIMESTAMP": "TIMESTAMPTZ",
    "TIME": "TIME",
    "BYTES": "BLOB",
    "JSON": "JSON",
}
# DuckDB type id -> BigQuery (REST schema) field type
_DUCK_TO_BQ = {
    "varchar": "STRING",
    "uuid": "STRING",
    "bigint": "INTEGER",
    "integer": "INTEGER",
    "smallint": "INTEGER",
    "tinyint": "INTEGER",
    "hugeint": "INTEGER",
    "ubigint": "INTEGER",
    "uinteger": "INTEGER",
    "usmallint": "INTEGER",
    "utinyint": "INTEGER",
    "null": "INTEGER",
    "double": "FLOAT",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "DATETIME",
    "timestamp_ms": "DATETIME",
    "timestamp_ns": "DATETIME",
    "timestamp_s": "DATETIME",
    "timestamp with time zone": "TIMESTAMP",
    "time": "TIME",
    "decimal": "NUMERIC",
    "blob": "BYTES",
}


class ApiError(Exception):
    """An error answered in BigQuery's envelope (and recorded as a job's ``errorResult``)."""

    def __init__(self, code: int, reason: str, message: str, location: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.location = location

    def error_proto(self) -> dict[str, Any]:
        e: dict[str, Any] = {"reason": self.reason, "message": self.message}
        if self.location:
            e["location"] = self.location
        return e

    def envelope(self) -> dict[str, Any]:
        item = {**self.error_proto(), "domain": "global"}
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "errors": [item],
                "status": _STATUS.get(self.code, "UNKNOWN"),
            }
        }


def _ms(t: float) -> str:
    return str(int(t * 1000))


@dataclass
class Job:
    project: str
    job_id: str
    location: str
    configuration: dict[str, Any]
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    state: str = "PENDING"
    error: ApiError | None = None
    destination: tuple[str, str, str] | None = None
    statement_type: str = "SELECT"
    dml_rows: int | None = None
    cancel_requested: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def query(self) -> dict[str, Any]:
        return self.configuration.get("query", {})  # type: ignore[no-any-return]

    def resource(self) -> dict[str, Any]:
        status: dict[str, Any] = {"state": self.state}
        if self.error is not None:
            status["errorResult"] = self.error.error_proto()
            status["errors"] = [self.error.error_proto()]
        config = json.loads(json.dumps(self.configuration))
        config["jobType"] = "QUERY"
        if self.destination is not None:
            p, d, t = self.destination
            config["query"]["destinationTable"] = {"projectId": p, "datasetId": d, "tableId": t}
        stats: dict[str, Any] = {"creationTime": _ms(self.created)}
        if self.started is not None:
            stats["startTime"] = _ms(self.started)
        if self.ended is not None:
            stats["endTime"] = _ms(self.ended)
        query_stats: dict[str, Any] = {"statementType": self.statement_type}
        if self.state == "DONE":
            query_stats.update(totalBytesProcessed="0", totalBytesBilled="0", cacheHit=False)
            if self.dml_rows is not None:
                query_stats["numDmlAffectedRows"] = str(self.dml_rows)
        stats["query"] = query_stats
        return {
            "kind": "bigquery#job",
            "etag": f'"{self.job_id}-{self.state}"',
            "id": f"{self.project}:{self.location}.{self.job_id}",
            "selfLink": f"{API_PREFIX}/projects/{self.project}/jobs/{self.job_id}?location={self.location}",
            "user_email": "stand-in@localhost",
            "jobReference": {"projectId": self.project, "jobId": self.job_id, "location": self.location},
            "configuration": config,
            "status": status,
            "statistics": stats,
        }


# ---- values ----------------------------------------------------------------------------------------
def _param_value(name: str, ptype: dict[str, Any], pvalue: dict[str, Any] | None) -> Any:
    """A REST ``QueryParameterValue`` as the Python value bound to DuckDB (typed by ``ptype``)."""
    kind = str(ptype.get("type", "")).upper()
    pvalue = pvalue or {}
    if kind == "ARRAY":
        items = pvalue.get("arrayValues")
        if items is None:
            return None
        return [_param_value(name, ptype["arrayType"], item) for item in items]
    if kind == "STRUCT":
        values = pvalue.get("structValues")
        if values is None:
            return None
        return {f["name"]: _param_value(name, f["type"], values.get(f["name"])) for f in ptype["structTypes"]}
    raw = pvalue.get("value")
    if raw is None:
        return None
    try:
        if kind == "STRING":
            return str(raw)
        if kind in ("INT64", "INTEGER"):
            if isinstance(raw, bool) or (isinstance(raw, str) and not re.fullmatch(r"[+-]?\d+", raw.strip())):
                raise ValueError(raw)
            return int(raw)
        if kind in ("FLOAT64", "FLOAT"):
            return float(raw)
        if kind in ("BOOL", "BOOLEAN"):
            text = str(raw).lower()
            if text not in ("true", "false"):
                raise ValueError(raw)
            return text == "true"
        if kind in ("NUMERIC", "BIGNUMERIC"):
            return decimal.Decimal(str(raw))
        if kind == "DATE":
            return dt.date.fromisoformat(str(raw))
        if kind == "DATETIME":
            return dt.datetime.fromisoformat(str(raw).replace(" ", "T"))
        if kind == "TIMESTAMP":
            value = dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        if kind == "TIME":
            return dt.time.fromisoformat(str(raw))
        if kind == "BYTES":
            return base64.b64decode(str(raw), validate=True)
        if kind == "JSON":
            json.loads(str(raw))
            return str(raw)
    except (ValueError, ArithmeticError, TypeError):
        raise ApiError(
            400, "invalidQuery", f"Invalid value {raw!r} for query parameter {name} of type {kind}", "query"
        ) from None
    raise ApiError(400, "invalidQuery", f"Unsupported query parameter type {kind} for parameter {name}")


def _duck_type(ptype: dict[str, Any]) -> str:
    kind = str(ptype.get("type", "")).upper()
    if kind == "ARRAY":
        return _duck_type(ptype["arrayType"]) + "[]"
    if kind == "STRUCT":
        fields = ", ".join(f'"{f["name"]}" {_duck_type(f["type"])}' for f in ptype["structTypes"])
        return f"STRUCT({fields})"
    return _PARAM_DUCK_TYPES[kind]


def _bq_field(name: str, t: Any) -> dict[str, Any]:
    """A REST ``TableFieldSchema`` for a DuckDB column type."""
    if t.id == "list":
        inner = _bq_field(name, t.children[0][1])
        if inner.get("mode") == "REPEATED":  # arrays of arrays do not exist in BigQuery
            return {"name": name, "type": "STRING", "mode": "REPEATED"}
        return {**inner, "mode": "REPEATED"}
    if t.id == "struct":
        fields = [_bq_field(n, sub) for n, sub in t.children]
        return {"name": name, "type": "RECORD", "mode": "NULLABLE", "fields": fields}
    if str(t) == "JSON":
        return {"name": name, "type": "JSON", "mode": "NULLABLE"}
    return {"name": name, "type": _DUCK_TO_BQ.get(t.id, "STRING"), "mode": "NULLABLE"}


def _read_expr(name: str, t: Any) -> str:
    """How a column is read for the wire: TIMESTAMPs as epoch microseconds (no time zone objects)."""
    col = '"' + name.replace('"', '""') + '"'
    if t.id == "timestamp with time zone":
        return f"epoch_us({col})"
    if t.id == "list" and t.children[0][1].id == "timestamp with time zone":
        return f"list_transform({col}, x -> epoch_us(x))"
    if t.id == "struct" and "WITH TIME ZONE" in str(t):
        return f"CAST({col} AS VARCHAR)"
    return col


def _cell(value: Any, f: dict[str, Any], int64_ts: bool) -> Any:
    if value is None:
        return None
    if f.get("mode") == "REPEATED":
        return [{"v": _scalar(v, f, int64_ts)} for v in value]
    return _scalar(value, f, int64_ts)


def _scalar(v: Any, f: dict[str, Any], int64_ts: bool) -> Any:
    if v is None:
        return None
    kind = f["type"]
    if kind == "RECORD":
        if isinstance(v, str):
            return v
        return {"f": [{"v": _cell(v.get(sub["name"]), sub, int64_ts)} for sub in f["fields"]]}
    if kind == "INTEGER":
        return str(int(v))
    if kind == "FLOAT":
        x = float(v)
        if math.isnan(x):
            return "NaN"
        if math.isinf(x):
            return "Infinity" if x > 0 else "-Infinity"
        return repr(x)
    if kind == "BOOLEAN":
        return "true" if v else "false"
    if kind == "BYTES":
        return base64.b64encode(bytes(v)).decode()
    if kind == "TIMESTAMP":
        return str(int(v)) if int64_ts else repr(int(v) / 1e6)
    if kind in ("DATE", "TIME"):
        return v.isoformat()
    if kind == "DATETIME":
        return v.isoformat(timespec="microseconds" if v.microsecond else "seconds")
    return str(v)


def _clean(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


# ---- the engine ------------------------------------------------------------------------------------
class Engine:
    """DuckDB behind BigQuery's resources: project = attached catalog, dataset = schema."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET TimeZone='UTC'")
        self.projects: set[str] = set()
        self.datasets: dict[tuple[str, str], dict[str, Any]] = {}
        self.tables: dict[tuple[str, str, str], float] = {}
        self.jobs: dict[tuple[str, str], Job] = {}
        self.hold = False
        self.insert_reply_delay = 0.0
        self.requests: list[dict[str, Any]] = []

    # -- catalog --------------------------------------------------------------------------------
    @staticmethod
    def q(*parts: str) -> str:
        return ".".join('"' + p.replace('"', '""') + '"' for p in parts)

    def project(self, project: str) -> None:
        with self.lock:
            if project not in self.projects:
                self.con.execute(f"ATTACH ':memory:' AS {self.q(project)}")
                self.projects.add(project)

    def create_dataset(
        self, project: str, dataset: str, location: str | None, exists_ok: bool = False
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_]{1,1024}", dataset):
            raise ApiError(400, "invalid", f"Invalid dataset ID {dataset!r}")
        with self.lock:
            self.project(project)
            if (project, dataset) in self.datasets:
                if exists_ok:
                    return
                raise ApiError(409, "duplicate", f"Already Exists: Dataset {project}:{dataset}")
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {self.q(project, dataset)}")
            self.datasets[(project, dataset)] = {
                "location": location or DEFAULT_LOCATION,
                "created": time.time(),
            }

    def seed_csv(self, project: str, dataset: str, table: str, path: str) -> int:
        """Load a CSV file (header row, column types inferred) as ``project.dataset.table``,
        replacing a table of that name; returns the number of rows loaded."""
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,1024}", table):
            raise ApiError(400, "invalid", f"Invalid table ID {table!r}")
        with self.lock:
            self.create_dataset(project, dataset, None, exists_ok=True)
            ref = self.q(project, dataset, table)
            self.con.execute(
                f"CREATE OR REPLACE TABLE {ref} AS SELECT * FROM read_csv_auto(?, header=true)", [path]
            )
            self.tables[(project, dataset, table)] = time.time()
            n = self.con.execute(f"SELECT count(*) FROM {ref}").fetchone()
        return int(n[0]) if n else 0

    def dataset(self, project: str, dataset: str) -> dict[str, Any]:
        meta = self.datasets.get((project, dataset))
        if meta is None:
            raise ApiError(404, "notFound", f"Not found: Dataset {project}:{dataset}")
        return meta

    def dataset_resource(self, project: str, dataset: str) -> dict[str, Any]:
        meta = self.dataset(project, dataset)
        return {
            "kind": "bigquery#dataset",
            "etag": f'"{project}.{dataset}"',
            "id": f"{project}:{dataset}",
            "datasetReference": {"projectId": project, "datasetId": dataset},
            "location": meta["location"],
            "creationTime": _ms(meta["created"]),
            "lastModifiedTime": _ms(meta["created"]),
        }

    def table_exists(self, project: str, dataset: str, table: str) -> bool:
        with self.lock:
            if project not in self.projects:
                return False
            rows = self.con.execute(
                "SELECT 1 FROM duckdb_tables() WHERE database_name=? AND schema_name=? AND table_name=?",
                [project, dataset, table],
            ).fetchall()
            return bool(rows)

    def table_columns(self, project: str, dataset: str, table: str) -> list[tuple[str, Any]]:
        with self.lock:
            if not self.table_exists(project, dataset, table):
                raise ApiError(404, "notFound", f"Not found: Table {project}:{dataset}.{table}")
            desc = self.con.execute(f"SELECT * FROM {self.q(project, dataset, table)} LIMIT 0").description
            return [(d[0], d[1]) for d in desc]

    def table_resource(self, project: str, dataset: str, table: str) -> dict[str, Any]:
        with self.lock:
            cols = self.table_columns(project, dataset, table)
            n = self.con.execute(f"SELECT count(*) FROM {self.q(project, dataset, table)}").fetchone()
            created = self.tables.setdefault((project, dataset, table), time.time())
        num_rows = int(n[0]) if n else 0
        res: dict[str, Any] = {
            "kind": "bigquery#table",
            "etag": f'"{project}.{dataset}.{table}"',
            "id": f"{project}:{dataset}.{table}",
            "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
            "schema": {"fields": [_bq_field(name, t) for name, t in cols]},
            "numRows": str(num_rows),
            "numBytes": str(num_rows * 8 * max(1, len(cols))),  # an estimate; DuckDB keeps no such count
            "creationTime": _ms(created),
            "lastModifiedTime": _ms(created),
            "type": "TABLE",
            "location": self.datasets.get((project, dataset), {}).get("location", DEFAULT_LOCATION),
        }
        if dataset == ANON_DATASET:
            res["expirationTime"] = _ms(created + 24 * 3600)
        return res

    def rows(
        self, project: str, dataset: str, table: str, start: int, limit: int, int64_ts: bool
    ) -> tuple[list[dict[str, Any]], int, list[dict[str, Any]]]:
        with self.lock:
            cols = self.table_columns(project, dataset, table)
            fields = [_bq_field(name, t) for name, t in cols]
            select = ", ".join(_read_expr(name, t) for name, t in cols) or "*"
            ref = self.q(project, dataset, table)
            total_row = self.con.execute(f"SELECT count(*) FROM {ref}").fetchone()
            data = self.con.execute(f"SELECT {select} FROM {ref} LIMIT ? OFFSET ?", [limit, start]).fetchall()
        total = int(total_row[0]) if total_row else 0
        out = [{"f": [{"v": _cell(v, f, int64_ts)} for v, f in zip(row, fields)]} for row in data]
        return out, total, fields

    # -- jobs -----------------------------------------------------------------------------------
    def insert_job(self, project: str, body: dict[str, Any]) -> Job:
        config = body.get("configuration") or {}
        ref = body.get("jobReference") or {}
        job_id = ref.get("jobId") or f"job_{uuid.uuid4().hex}"
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,1024}", job_id):
            raise ApiError(400, "invalid", f"Invalid job ID {job_id!r}")
        if "query" not in config:
            raise ApiError(501, "notImplemented", "the stand-in server runs query jobs only")
        query = config["query"]
        if not isinstance(query.get("query"), str) or not query["query"].strip():
            raise ApiError(400, "invalid", "Missing required parameter: configuration.query.query")
        if query.get("useLegacySql", True) is not False:
            raise ApiError(
                400,
                "invalidQuery",
                "Legacy SQL is not supported by the stand-in server; set useLegacySql=false",
            )
        if query.get("parameterMode", "NAMED").upper() != "NAMED" and query.get("queryParameters"):
            raise ApiError(400, "invalidQuery", "Positional parameters are not supported by the stand-in")
        params: dict[str, tuple[Any, str]] = {}
        for p in query.get("queryParameters") or []:
            name = p.get("name")
            if not name:
                raise ApiError(400, "invalidQuery", "Query parameters must have names (parameterMode NAMED)")
            if name.lower() in {k.lower() for k in params}:
                raise ApiError(400, "invalidQuery", f"Duplicate query parameter name {name}")
            try:
                ducktype = _duck_type(p["parameterType"])
            except KeyError as e:
                raise ApiError(
                    400, "invalidQuery", f"Unsupported query parameter type {e} for {name}"
                ) from None
            params[name] = (_param_value(name, p["parameterType"], p.get("parameterValue")), ducktype)
        location = ref.get("location") or DEFAULT_LOCATION
        with self.lock:
            if (project, job_id) in self.jobs:
                existing = self.jobs[(project, job_id)]
                raise ApiError(
                    409, "duplicate", f"Already Exists: Job {project}:{existing.location}.{job_id}"
                )
            self.project(project)
            job = Job(project=project, job_id=job_id, location=location, configuration=config)
            job.state = "RUNNING"
            job.started = time.time()
            self.jobs[(project, job_id)] = job
            if not self.hold:
                job.release.set()
        threading.Thread(target=self._run, args=(job, params), daemon=True, name=f"job-{job_id}").start()
        return job

    def job(self, project: str, job_id: str, location: str | None) -> Job:
        job = self.jobs.get((project, job_id))
        if job is None or (location and location.lower() != job.location.lower()):
            where = f"{location or DEFAULT_LOCATION}"
            raise ApiError(404, "notFound", f"Not found: Job {project}:{where}.{job_id}")
        return job

    def cancel(self, job: Job) -> None:
        with self.lock:
            if job.state != "DONE":
                job.cancel_requested = True
                job.release.set()
        job.done.wait(5)

    def _finish(self, job: Job, error: ApiError | None = None) -> None:
        with self.lock:
            job.error = error
            job.state = "DONE"
            job.ended = time.time()
        job.done.set()

    def _run(self, job: Job, params: dict[str, tuple[Any, str]]) -> None:
        job.release.wait()
        if job.cancel_requested:
            self._finish(
                job, ApiError(400, "stopped", "Job execution was cancelled: User requested cancellation")
            )
            return
        try:
            self._execute(job, params)
        except ApiError as e:
            self._finish(job, e)
        except duckdb.Error as e:
            self._finish(job, _duck_error(e))
        except Exception as e:  # the stand-in's own bug: still a job error, with its text
            self._finish(job, ApiError(500, "internalError", f"{type(e).__name__}: {e}"))
        else:
            self._finish(job)

    def _execute(self, job: Job, params: dict[str, tuple[Any, str]]) -> None:
        query = job.query
        sql: str = query["query"]
        try:
            parsed = sqlglot.parse(sql, read="bigquery")
            statements = [s for s in parsed if isinstance(s, exp.Expression)]
        except sqlglot.errors.ParseError as e:
            first = e.errors[0] if e.errors else {}
            where = f" at [{first.get('line', 1)}:{first.get('col', 1)}]" if first else ""
            desc = _clean(Exception(first.get("description", str(e))))
            raise ApiError(400, "invalidQuery", f"Syntax error: {desc}{where}", "query") from None
        if not statements:
            raise ApiError(400, "invalidQuery", "Syntax error: Unexpected end of script", "query")
        default = query.get("defaultDataset") or {}
        with self.lock:
            con = self.con
            use_project = default.get("projectId") or job.project
            self.project(use_project)
            if default.get("datasetId"):
                self.dataset(use_project, default["datasetId"])
                con.execute(f"USE {self.q(use_project, default['datasetId'])}")
            else:
                con.execute(f"USE {self.q(use_project)}")
            try:
                job.statement_type = "SCRIPT" if len(statements) > 1 else _statement_type(statements[0])
                for i, statement in enumerate(statements):
                    last = i == len(statements) - 1
                    duck_sql, names = _to_duckdb(statement, params)
                    bound = {n: params[n][0] for n in names}
                    if isinstance(statement, exp.Query):
                        if last:
                            self._write_destination(job, duck_sql, bound)
                        else:
                            con.execute(duck_sql, bound).fetchall()
                    else:
                        cur = con.execute(duck_sql, bound)
                        if isinstance(statement, (exp.Insert, exp.Update, exp.Delete, exp.Merge)):
                            row = cur.fetchone()
                            job.dml_rows = int(row[0]) if row else 0
                        self._track(job, statement)
            finally:
                con.execute("USE memory")

    def _track(self, job: Job, statement: exp.Expression) -> None:
        """Datasets made or dropped through SQL (CREATE SCHEMA / DROP SCHEMA) join the registry."""
        kind = str(statement.args.get("kind", "")).upper()
        if kind != "SCHEMA" or not isinstance(statement, (exp.Create, exp.Drop)):
            return
        target = statement.this
        db = target.args.get("db") if isinstance(target, exp.Table) else None
        key = (db.name if db is not None else job.project, target.name)
        if isinstance(statement, exp.Create):
            self.datasets.setdefault(key, {"location": job.location, "created": time.time()})
        else:
            self.datasets.pop(key, None)

    def _write_destination(self, job: Job, duck_sql: str, bound: dict[str, Any]) -> None:
        query = job.query
        dest = query.get("destinationTable")
        if dest:
            p, d, t = dest["projectId"], dest["datasetId"], dest["tableId"]
            self.dataset(p, d)
        else:
            p, d, t = job.project, ANON_DATASET, "anon" + re.sub(r"[^A-Za-z0-9_]", "_", job.job_id)
            self.create_dataset(p, d, job.location, exists_ok=True)
        target = self.q(p, d, t)
        exists = self.table_exists(p, d, t)
        disposition = (query.get("writeDisposition") or "WRITE_EMPTY").upper()
        create = (query.get("createDisposition") or "CREATE_IF_NEEDED").upper()
        if not exists and create == "CREATE_NEVER":
            raise ApiError(404, "notFound", f"Not found: Table {p}:{d}.{t}")
        if exists and disposition == "WRITE_APPEND":
            self.con.execute(f"INSERT INTO {target} {duck_sql}", bound)
        else:
            if exists and disposition == "WRITE_EMPTY":
                n = self.con.execute(f"SELECT count(*) FROM {target}").fetchone()
                if n and n[0]:
                    raise ApiError(409, "duplicate", f"Already Exists: Table {p}:{d}.{t}")
            self.con.execute(f"CREATE OR REPLACE TABLE {target} AS {duck_sql}", bound)
            self.tables[(p, d, t)] = time.time()
        job.destination = (p, d, t)


def _statement_type(statement: exp.Expression) -> str:
    if isinstance(statement, exp.Query):
        return "SELECT"
    if isinstance(statement, exp.Create):
        kind = str(statement.args.get("kind", "TABLE")).upper()
        if kind == "TABLE" and statement.expression is not None:
            return "CREATE_TABLE_AS_SELECT"
        return f"CREATE_{kind}"
    if isinstance(statement, exp.Drop):
        return f"DROP_{str(statement.args.get('kind', 'TABLE')).upper()}"
    return type(statement).__name__.upper()


def _to_duckdb(statement: exp.Expression, params: dict[str, tuple[Any, str]]) -> tuple[str, set[str]]:
    """The statement in DuckDB's dialect, each ``@name`` a typed bound parameter."""
    used: set[str] = set()
    lowered = {k.lower(): k for k in params}

    def bind(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Parameter) and isinstance(node.this, (exp.Var, exp.Identifier)):
            name = lowered.get(node.name.lower())
            if name is None:
                raise ApiError(400, "invalidQuery", f"Query parameter '{node.name}' not found", "query")
            used.add(name)
            placeholder = exp.Parameter(this=exp.Var(this=name))
            return exp.Cast(this=placeholder, to=exp.DataType.build(params[name][1], dialect="duckdb"))
        return node

    converted = statement.copy().transform(bind)
    return converted.sql(dialect="duckdb"), used


def _duck_error(e: duckdb.Error) -> ApiError:
    text = _clean(e)
    if isinstance(e, duckdb.CatalogException):
        return ApiError(404, "notFound", f"Not found: {text}", "query")
    if isinstance(e, duckdb.ParserException):
        return ApiError(400, "invalidQuery", f"Syntax error: {text}", "query")
    return ApiError(400, "invalidQuery", text, "query")


# ---- HTTP ------------------------------------------------------------------------------------------
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile("^" + p + "$"), h)
    for m, p, h in [
        ("GET", r"/projects/([^/]+)/datasets", "list_datasets"),
        ("POST", r"/projects/([^/]+)/datasets", "insert_dataset"),
        ("GET", r"/projects/([^/]+)/datasets/([^/]+)", "get_dataset"),
        ("DELETE", r"/projects/([^/]+)/datasets/([^/]+)", "delete_dataset"),
        ("GET", r"/projects/([^/]+)/datasets/([^/]+)/tables", "list_tables"),
        ("GET", r"/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)", "get_table"),
        ("DELETE", r"/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)", "delete_table"),
        ("GET", r"/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)/data", "list_rows"),
        ("POST", r"/projects/([^/]+)/jobs", "insert_job"),
        ("GET", r"/projects/([^/]+)/jobs", "list_jobs"),
        ("GET", r"/projects/([^/]+)/jobs/([^/]+)", "get_job"),
        ("POST", r"/projects/([^/]+)/jobs/([^/]+)/cancel", "cancel_job"),
        ("GET", r"/projects/([^/]+)/queries/([^/]+)", "get_query_results"),
    ]
]


class Api:
    """The REST resources, one method per route; each returns a JSON-able body."""

    def __init__(self, engine: Engine) -> None:
        self.e = engine

    def list_datasets(self, q: dict[str, str], body: Any, project: str) -> Any:
        names = sorted(d for (p, d) in self.e.datasets if p == project and not d.startswith("_"))
        items = [
            {
                "kind": "bigquery#dataset",
                "id": f"{project}:{d}",
                "datasetReference": {"projectId": project, "datasetId": d},
                "location": self.e.datasets[(project, d)]["location"],
            }
            for d in names
        ]
        return {"kind": "bigquery#datasetList", "etag": '"datasets"', "datasets": items}

    def insert_dataset(self, q: dict[str, str], body: Any, project: str) -> Any:
        ref = (body or {}).get("datasetReference") or {}
        dataset = ref.get("datasetId")
        if not dataset:
            raise ApiError(400, "invalid", "Missing required field: datasetReference.datasetId")
        self.e.create_dataset(ref.get("projectId") or project, dataset, body.get("location"))
        return self.e.dataset_resource(ref.get("projectId") or project, dataset)

    def get_dataset(self, q: dict[str, str], body: Any, project: str, dataset: str) -> Any:
        return self.e.dataset_resource(project, dataset)

    def delete_dataset(self, q: dict[str, str], body: Any, project: str, dataset: str) -> Any:
        with self.e.lock:
            self.e.dataset(project, dataset)
            tables = [k for k in self.e.tables if k[:2] == (project, dataset)]
            has_tables = (
                tables
                or self.e.con.execute(
                    "SELECT 1 FROM duckdb_tables() WHERE database_name=? AND schema_name=?",
                    [project, dataset],
                ).fetchall()
            )
            if has_tables and q.get("deleteContents", "false").lower() != "true":
                raise ApiError(400, "resourceInUse", f"Dataset {project}:{dataset} is still in use")
            self.e.con.execute(f"DROP SCHEMA {self.e.q(project, dataset)} CASCADE")
            del self.e.datasets[(project, dataset)]
            for k in tables:
                self.e.tables.pop(k, None)
        return None

    def list_tables(self, q: dict[str, str], body: Any, project: str, dataset: str) -> Any:
        with self.e.lock:
            self.e.dataset(project, dataset)
            names = [
                r[0]
                for r in self.e.con.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE database_name=? AND schema_name=? "
                    "ORDER BY table_name",
                    [project, dataset],
                ).fetchall()
            ]
        items = [
            {
                "kind": "bigquery#table",
                "id": f"{project}:{dataset}.{t}",
                "tableReference": {"projectId": project, "datasetId": dataset, "tableId": t},
                "type": "TABLE",
            }
            for t in names
        ]
        return {"kind": "bigquery#tableList", "tables": items, "totalItems": len(items)}

    def get_table(self, q: dict[str, str], body: Any, project: str, dataset: str, table: str) -> Any:
        self.e.dataset(project, dataset)
        return self.e.table_resource(project, dataset, table)

    def delete_table(self, q: dict[str, str], body: Any, project: str, dataset: str, table: str) -> Any:
        with self.e.lock:
            self.e.table_columns(project, dataset, table)
            self.e.con.execute(f"DROP TABLE {self.e.q(project, dataset, table)}")
            self.e.tables.pop((project, dataset, table), None)
        return None

    def _page(self, q: dict[str, str], project: str, dataset: str, table: str) -> dict[str, Any]:
        start = int(q.get("pageToken") or q.get("startIndex") or 0)
        limit = int(q.get("maxResults") or DEFAULT_PAGE_ROWS)
        int64_ts = q.get("formatOptions.useInt64Timestamp", "false").lower() == "true"
        rows, total, fields = self.e.rows(project, dataset, table, start, limit, int64_ts)
        page: dict[str, Any] = {"totalRows": str(total), "rows": rows, "schema": {"fields": fields}}
        if start + len(rows) < total:
            page["pageToken"] = str(start + len(rows))
        return page

    def list_rows(self, q: dict[str, str], body: Any, project: str, dataset: str, table: str) -> Any:
        self.e.dataset(project, dataset)
        page = self._page(q, project, dataset, table)
        page.pop("schema")
        return {"kind": "bigquery#tableDataList", "etag": f'"{table}"', **page}

    def insert_job(self, q: dict[str, str], body: Any, project: str) -> Any:
        job = self.e.insert_job(project, body or {})
        if self.e.insert_reply_delay:
            time.sleep(self.e.insert_reply_delay)  # the job exists; its creator has not heard yet
        return job.resource()

    def list_jobs(self, q: dict[str, str], body: Any, project: str) -> Any:
        states = {s.upper() for s in q.get("stateFilter", "").split(",") if s}
        jobs = [
            j
            for (p, _), j in sorted(self.e.jobs.items(), key=lambda kv: -kv[1].created)
            if p == project and (not states or j.state in states)
        ]
        items = [{**j.resource(), "state": j.state} for j in jobs]
        return {"kind": "bigquery#jobList", "etag": '"jobs"', "jobs": items}

    def get_job(self, q: dict[str, str], body: Any, project: str, job_id: str) -> Any:
        return self.e.job(project, job_id, q.get("location")).resource()

    def cancel_job(self, q: dict[str, str], body: Any, project: str, job_id: str) -> Any:
        job = self.e.job(project, job_id, q.get("location"))
        self.e.cancel(job)
        return {"kind": "bigquery#jobCancelResponse", "job": job.resource()}

    def get_query_results(self, q: dict[str, str], body: Any, project: str, job_id: str) -> Any:
        job = self.e.job(project, job_id, q.get("location"))
        timeout = min(float(q.get("timeoutMs") or 10_000), 10_000) / 1000
        job.done.wait(timeout)
        ref = {"projectId": project, "jobId": job_id, "location": job.location}
        if job.state != "DONE":
            return {"kind": "bigquery#getQueryResultsResponse", "jobReference": ref, "jobComplete": False}
        if job.error is not None:
            raise ApiError(_REASON_CODE.get(job.error.reason, 400), job.error.reason, job.error.message)
        out: dict[str, Any] = {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": ref,
            "jobComplete": True,
            "totalBytesProcessed": "0",
            "cacheHit": False,
        }
        if job.dml_rows is not None:
            out["numDmlAffectedRows"] = str(job.dml_rows)
        if job.destination is None:
            out.update(totalRows="0", schema={"fields": []})
            return out
        if q.get("maxResults") == "0":
            _, total, fields = self.e.rows(*job.destination, 0, 0, False)
            out.update(totalRows=str(total), schema={"fields": fields})
            return out
        out.update(self._page(q, *job.destination))
        return out


def _admin(engine: Engine, method: str, path: str, body: Any) -> Any:
    if method == "GET" and path == "/_stand_in/health":
        return {"ok": True}
    if method == "POST" and path == "/_stand_in/hold":
        engine.hold = bool((body or {}).get("hold", True))
        engine.insert_reply_delay = float((body or {}).get("insert_reply_delay", 0.0))
        return {"hold": engine.hold, "insert_reply_delay": engine.insert_reply_delay}
    if method == "POST" and path == "/_stand_in/release":
        job_id = (body or {}).get("jobId")
        released = []
        for j in list(engine.jobs.values()):
            if (job_id is None or j.job_id == job_id) and not j.release.is_set():
                j.release.set()
                released.append(j.job_id)
        return {"released": released}
    if method == "GET" and path == "/_stand_in/jobs":
        return {
            "jobs": [
                {
                    "projectId": j.project,
                    "jobId": j.job_id,
                    "location": j.location,
                    "state": j.state,
                    "query": j.query.get("query"),
                    "queryParameters": j.query.get("queryParameters", []),
                    "cancelled": j.cancel_requested,
                    "held": not j.release.is_set(),
                    "errorResult": j.error.error_proto() if j.error else None,
                }
                for j in sorted(engine.jobs.values(), key=lambda j: j.created)
            ]
        }
    if method == "GET" and path == "/_stand_in/requests":
        return {"requests": list(engine.requests)}
    raise ApiError(404, "notFound", f"No stand-in route {method} {path}")


def make_handler(engine: Engine) -> type[BaseHTTPRequestHandler]:
    api = Api(engine)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _handle(self, method: str) -> None:
            url = urlparse(self.path)
            q = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            status, payload = 200, None
            try:
                body = json.loads(raw) if raw else None
                if url.path.startswith("/_stand_in/"):
                    payload = _admin(engine, method, url.path, body)
                else:
                    payload = self._api(method, url.path, q, body)
            except ApiError as e:
                status, payload = e.code, e.envelope()
            except json.JSONDecodeError as e:
                status, payload = 400, ApiError(400, "parseError", f"Invalid JSON payload: {e}").envelope()
            except Exception as e:
                status, payload = 500, ApiError(500, "internalError", f"{type(e).__name__}: {e}").envelope()
            if payload is None and status == 200:
                status = 204  # deletes answer "No Content", as BigQuery does
            data = b"" if status == 204 else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _api(self, method: str, path: str, q: dict[str, str], body: Any) -> Any:
            if not path.startswith(API_PREFIX + "/"):
                raise ApiError(404, "notFound", f"Not found: {path}")
            sub = path[len(API_PREFIX) :]
            for m, pattern, handler in _ROUTES:
                match = pattern.match(sub)
                if match and m == method:
                    args = [unquote(g) for g in match.groups()]
                    engine.requests.append({"method": method, "path": sub, "call": handler})
                    return getattr(api, handler)(q, body, *args)
            raise ApiError(501, "notImplemented", f"The stand-in server does not implement {method} {sub}")

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

    return Handler


def serve(host: str = "127.0.0.1", port: int = 0, engine: Engine | None = None) -> ThreadingHTTPServer:
    """An HTTP server (not yet serving) for ``engine`` (a fresh, empty one by default)."""
    server = ThreadingHTTPServer((host, port), make_handler(engine or Engine()))
    server.daemon_threads = True
    return server
