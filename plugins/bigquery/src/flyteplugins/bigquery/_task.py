"""BigQueryTask: a parameterised GoogleSQL query run as a BigQuery query job (task type
``bigquery_query_job_task``)."""

from __future__ import annotations

import importlib.util
import json
import textwrap
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flyte.errors import InvalidParameterError
from flyte.extend import NativeInterface, SerializationContext, TaskTemplate, run_connector
from flyteplugins.bigquery._config import BigQueryConfig
from flyteplugins.bigquery._params import (
    PARAM_NAME,
    SUPPORTED,
    bind_placeholders,
    normalize_query,
    param_type,
    referenced_parameters,
)
from flyteplugins.bigquery._table import PANDAS_DF_TYPES, BigQueryTable, DataFrameOrTable, RowsOrTable

TASK_TYPE = "bigquery_query_job_task"
_OUTPUTS = (
    "flyte.io.DataFrame (or Annotated[DataFrame, {columns}]), pandas.DataFrame, list (rows as dicts), "
    "BigQueryTable (a reference only) or None (no output)"
)


def _is_flyte_dataframe(value: Any) -> bool:
    from flyte.io._dataframe import DataFrame, annotation_info

    base = annotation_info(value)[0]
    return isinstance(base, type) and issubclass(base, DataFrame)


class Sql(str):
    """What ``sql()`` returns: the query text (a ``str``), with flyte-sdk's ``.statement`` and
    ``.dialect`` attributes."""

    @property
    def statement(self) -> str:
        return str(self)

    @property
    def dialect(self) -> str:
        return "ANSI"


def output_kind(value: Any, owner: str) -> str:
    """'pandas' | 'rows' | 'table' | 'none' for an ``output_dataframe_type`` value."""
    if isinstance(value, str) and value == "auto":
        return "pandas" if importlib.util.find_spec("pandas") is not None else "rows"
    if value is None or value is type(None):
        return "none"
    if _is_flyte_dataframe(value):
        return "dataframe"
    if isinstance(value, type) and value is BigQueryTable:
        return "table"
    if isinstance(value, type) and f"{value.__module__}.{value.__qualname__}" in PANDAS_DF_TYPES:
        return "pandas"
    if value is DataFrameOrTable:
        return "pandas"
    if value is list or _safe_eq(value, RowsOrTable) or typing.get_origin(value) is list:
        args = typing.get_args(value)
        if not args or typing.get_origin(args[0]) is dict or args[0] is dict:
            return "rows"
    raise InvalidParameterError(owner, "output_dataframe_type", value, f"Use {_OUTPUTS}.")


def _safe_eq(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except TypeError:
        return False


_OUTPUT_TYPES: dict[str, Any] = {
    "pandas": DataFrameOrTable,
    "rows": RowsOrTable,
    "table": BigQueryTable,
    "none": None,
}


@dataclass(kw_only=True)
class BigQueryTask(TaskTemplate[..., Any]):  # type: ignore[misc]
    """A GoogleSQL query run as a BigQuery job, with typed inputs passed as query parameters.

    ``query_template`` refers to inputs as ``@name``; ``inputs`` maps each name to its Python type
    (``str`` -> STRING, ``int`` -> INT64, ``float`` -> FLOAT64, ``bool`` -> BOOL, ``datetime.date`` ->
    DATE, ``datetime.datetime`` -> TIMESTAMP, ``list[T]`` -> ARRAY<T>, ...). Values are always sent as
    typed parameters, never written into the SQL text.

    ``output_dataframe_type``: ``pandas.DataFrame`` (the default when pandas is installed), ``list``
    (rows as dicts; the default otherwise), ``BigQueryTable`` (only a reference to the result table)
    or ``None`` (no output: DDL, DML). A result whose rows would exceed ``max_inline_io_bytes`` is
    returned as a ``BigQueryTable`` reference (``bq://project.dataset.table``) instead of its rows.

    ``plugin_config``: a ``BigQueryConfig`` (project, location, QueryJobConfig, endpoint).
    ``timeout``, ``retries`` and ``cache`` also take the short forms of ``@env.task``.
    """

    query_template: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    output_dataframe_type: Any = "auto"
    google_application_credentials: str | None = None
    task_type: str = TASK_TYPE
    interface: NativeInterface = field(init=False, default=None, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"BigQueryTask: name must be a non-empty string, got {self.name!r}")
        super().__post_init__()  # core: shorthand settings, short name, defining module
        owner = f"BigQueryTask(name={self.name!r})"
        if not isinstance(self.query_template, str) or not self.query_template.strip():
            raise InvalidParameterError(
                owner, "query_template", self.query_template, "Use a GoogleSQL query."
            )
        query, misplaced = bind_placeholders(textwrap.dedent(self.query_template).strip())
        if misplaced:
            raise InvalidParameterError(
                owner,
                "query_template",
                "{{ .inputs." + misplaced[0] + " }}",
                "Inputs are bound as query parameters, so a placeholder can stand only where a value "
                "goes (bare, or as a whole quoted string), not inside a longer string or a table name.",
            )
        config = self.plugin_config
        if config is None:
            config = BigQueryConfig()
        elif not isinstance(config, BigQueryConfig):
            raise InvalidParameterError(
                owner,
                "plugin_config",
                config,
                "Use flyteplugins.bigquery.BigQueryConfig(ProjectID=..., ...).",
            )
        if not isinstance(self.inputs, Mapping):
            raise InvalidParameterError(
                owner, "inputs", self.inputs, "Use a dict of name to type: {'ds': str}."
            )
        inputs = dict(self.inputs)
        for name, hint in inputs.items():
            if not isinstance(name, str) or not PARAM_NAME.fullmatch(name):
                raise InvalidParameterError(
                    owner, "inputs", name, "Input names are query parameter names: letters, digits, '_'."
                )
            if param_type(hint) is None:
                raise InvalidParameterError(
                    owner, f"inputs[{name!r}]", hint, f"Supported types: {SUPPORTED}."
                )
        config_params = {
            str(p.get("name", "")).lower()
            for p in config.job_config_repr().get("query", {}).get("queryParameters", [])
        }
        declared = {k.lower() for k in inputs} | config_params
        for name, line in referenced_parameters(query):
            if name.lower() not in declared:
                raise InvalidParameterError(
                    owner,
                    "query_template",
                    f"@{name}",
                    f"The query uses @{name} (line {line}) but the task declares no input {name!r}; "
                    f"declared inputs: {sorted(inputs)}.",
                )
        overlap = config_params & {k.lower() for k in inputs}
        if overlap:
            raise InvalidParameterError(
                owner, "plugin_config", sorted(overlap), "A parameter is both an input and in QueryJobConfig."
            )
        creds = self.google_application_credentials or config.google_application_credentials
        if creds is not None and (not isinstance(creds, str) or not creds.strip()):
            raise InvalidParameterError(
                owner,
                "google_application_credentials",
                creds,
                "Use the name of the secret that holds the service-account JSON, e.g. 'gcp-sa-key'.",
            )
        if creds is not None and config.google_application_credentials != creds:
            import dataclasses

            config = dataclasses.replace(config, google_application_credentials=creds)
        kind = output_kind(self.output_dataframe_type, owner)
        if kind == "pandas" and importlib.util.find_spec("pandas") is None:
            raise InvalidParameterError(
                owner,
                "output_dataframe_type",
                self.output_dataframe_type,
                "pandas is not installed: pip install 'flyte-plugin-bigquery[pandas]', or use list.",
            )

        def put(k: str, v: Any) -> None:
            object.__setattr__(self, k, v)

        put("query_template", normalize_query(query))
        put("inputs", inputs)
        put("plugin_config", config)
        if creds is not None:
            from flyte._secret import Secret, normalize_secrets

            if not any(isinstance(x, Secret) and x.key == creds for x in self.secrets or ()):
                put("secrets", (*normalize_secrets(self.secrets or None, owner), Secret(key=creds)))
        put("google_application_credentials", creds)
        output_type = self.output_dataframe_type if kind == "dataframe" else _OUTPUT_TYPES[kind]
        put("interface", NativeInterface.from_types(inputs, output_type))
        self.__dict__["_output_kind"] = kind

    @property
    def output_kind(self) -> str:
        """'dataframe', 'pandas', 'rows', 'table' or 'none'."""
        return self.__dict__["_output_kind"]  # type: ignore[no-any-return]

    @property
    def config_(self) -> BigQueryConfig:
        return self.plugin_config  # type: ignore[no-any-return]

    # ---- TaskTemplate hooks (serialisation) ---------------------------------------------------------
    def sql(self, sctx: SerializationContext | None = None) -> Sql:
        """The query (one line, as flyte-sdk stores it), with ``@name`` parameters: values are bound
        when the job is submitted, never part of the text."""
        return Sql(self.query_template)

    def custom_config(self, sctx: SerializationContext | None = None) -> dict[str, Any]:
        """flyte-sdk's shape (``Location``, ``ProjectID``, ``Domain``, the QueryJobConfig's ``query``
        fields, ``secrets``) plus what this connector adds: parameter types, output kind, endpoint."""
        cfg = self.config_
        out: dict[str, Any] = {
            "Location": cfg.Location,
            "ProjectID": cfg.ProjectID,
            "Domain": (sctx or SerializationContext()).domain,
        }
        out.update(cfg.job_config_repr().get("query", {}))
        if cfg.google_application_credentials is not None:
            out["secrets"] = {"google_application_credentials": cfg.google_application_credentials}
        out["Parameters"] = {name: _type_text(hint) for name, hint in self.inputs.items()}
        out["Output"] = self.output_kind
        if cfg.Endpoint:
            out["Endpoint"] = cfg.Endpoint
        return out

    def version_material(self) -> str:
        config = json.dumps(
            {**self.custom_config(), "QueryJobConfig": self.config_.job_config_repr()},
            sort_keys=True,
            default=str,
        )
        return f"BigQueryTask|{self.query_template}|{config}|{self.max_inline_io_bytes}"

    # ---- running outside a run -------------------------------------------------------------------
    async def execute(self, **inputs: Any) -> Any:
        """A plain call outside a run: submit the job, poll it, cancel it if this call is cancelled."""
        from flyteplugins.bigquery._connector import BigQueryConnector

        return await run_connector(BigQueryConnector(), self, inputs, None, max_delay=2.0)


def _type_text(hint: Any) -> str:
    kind = param_type(hint)
    assert kind is not None
    bq_type, element, _ = kind
    return f"ARRAY<{element}>" if bq_type == "ARRAY" else bq_type
