"""``flyte.io.DataFrame``: a table passed between tasks by reference, stored as Parquet in the run's store.

A task may return a pandas, pyarrow or polars table (or a plugin's, e.g. Spark) wrapped in
``DataFrame.from_df(df)`` or as is; only ``{"uri", "format"}`` reaches the journal. The reader picks its
own library with ``df.open(pd.DataFrame).all()``, or declares the library's type as its input and gets it
converted. No dataframe library is imported until a value of its type is converted.

Libraries plug in through ``register_dataframe_handler`` (the Spark plugin registers Spark's).
"""

from __future__ import annotations

import asyncio
import collections.abc
import hashlib
import os
import shutil
import tempfile
import threading
import typing
import uuid
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from flyte._runtime.store import join, uri_to_path

DF = TypeVar("DF")
PARQUET = "parquet"
CSV = "csv"
GENERIC_FORMAT = ""
_DATA_FILE = "part-00000.parquet"


# ---- handlers: how one dataframe library writes and reads Parquet -------------------------------------
@dataclass(frozen=True)
class DataFrameHandler:
    """Writes a library's table as Parquet at a URI and reads it back.

    ``type_paths``: ``module.QualName`` of the table class (matched without importing the library).
    ``write(df, uri)`` stores the table under ``uri`` (a directory of Parquet files);
    ``read(uri, columns)`` reads it (only ``columns`` when given). ``stored(df)`` returns the URI a table
    is already stored at (a Spark task's output), so it is not written twice.
    """

    name: str
    type_paths: tuple[str, ...]
    write: Callable[[Any, str], None]
    read: Callable[[str, list[str] | None], Any]
    stored: Callable[[Any], str | None] = field(default=lambda _df: None)


_handlers: dict[str, DataFrameHandler] = {}
_handlers_lock = threading.Lock()
_plugins_loaded = False


def register_dataframe_handler(handler: DataFrameHandler) -> None:
    """Make a dataframe library convertible to and from ``flyte.io.DataFrame`` (plugins call this
    from their ``flyte_register_types`` hook)."""
    with _handlers_lock:
        for path in handler.type_paths:
            _handlers[path] = handler


def _type_paths(cls: type) -> list[str]:
    return [f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__]


def _ensure_plugins() -> None:
    """Plugins register their handlers when loaded; load them (once) before a lookup can miss."""
    global _plugins_loaded
    if not _plugins_loaded:
        from flyte._plugins.manager import load_plugins

        load_plugins()
        _plugins_loaded = True


def handler_for_type(cls: Any) -> DataFrameHandler | None:
    if not isinstance(cls, type):
        return None
    for path in _type_paths(cls):
        h = _handlers.get(path)
        if h is not None:
            return h
    _ensure_plugins()
    return next((_handlers[p] for p in _type_paths(cls) if p in _handlers), None)


def handler_for(value: Any) -> DataFrameHandler | None:
    return handler_for_type(type(value))


def known_types() -> list[str]:
    _ensure_plugins()
    return sorted({h.name for h in _handlers.values()})


# ---- where tables go ------------------------------------------------------------------------------------
def _is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def _local_dir(uri: str) -> str:
    """A local directory holding the files under ``uri`` (downloaded when the store is remote)."""
    if _is_local(uri):
        return uri_to_path(uri)
    from flyte._runtime.store import store_for

    dest = os.path.join(tempfile.mkdtemp(prefix="flyte-df-"), "data")
    return store_for(uri).get_file(uri, dest)


def _write_files(uri: str, write_local: Callable[[str], None]) -> None:
    """Run ``write_local(dir)`` into ``uri`` directly when it is local, else into a temp dir uploaded."""
    if _is_local(uri):
        path = uri_to_path(uri)
        os.makedirs(path, exist_ok=True)
        write_local(path)
        return
    from flyte._runtime.store import store_for

    tmp = tempfile.mkdtemp(prefix="flyte-df-")
    try:
        write_local(tmp)
        store_for(uri).put_file(tmp, uri)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _parquet_files(path: str) -> list[str]:
    if os.path.isfile(path):
        return [path]
    out: list[str] = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        out.extend(os.path.join(root, f) for f in sorted(files) if not f.startswith((".", "_")))
    return out


def _missing(lib: str, extra: str) -> ImportError:
    return ImportError(f"Converting a flyte.io.DataFrame with {lib} needs it installed: pip install {extra}")


def _arrow_read(uri: str, columns: list[str] | None) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise _missing("pyarrow", "pyarrow") from e
    return pq.read_table(_local_dir(uri), columns=columns)


def _arrow_write(table: Any, uri: str) -> None:
    import pyarrow.parquet as pq

    _write_files(uri, lambda d: pq.write_table(table, os.path.join(d, _DATA_FILE)))


def _pandas_write(df: Any, uri: str) -> None:
    try:
        import pyarrow as pa
    except ImportError as e:
        raise _missing("pandas", "'flyte-core[dataframe]' (pandas and pyarrow)") from e
    _arrow_write(pa.Table.from_pandas(df, preserve_index=False), uri)


def _pandas_read(uri: str, columns: list[str] | None) -> Any:
    return _arrow_read(uri, columns).to_pandas()


def _polars_write(df: Any, uri: str) -> None:
    _write_files(uri, lambda d: df.write_parquet(os.path.join(d, _DATA_FILE)))


def _polars_read(uri: str, columns: list[str] | None) -> Any:
    import polars as pl

    files = _parquet_files(_local_dir(uri))
    if not files:
        return pl.DataFrame()
    return pl.read_parquet(files, columns=columns)


for _h in (
    DataFrameHandler(
        "pandas", ("pandas.core.frame.DataFrame", "pandas.DataFrame"), _pandas_write, _pandas_read
    ),
    DataFrameHandler("pyarrow", ("pyarrow.lib.Table", "pyarrow.Table"), _arrow_write, _arrow_read),
    DataFrameHandler("polars", ("polars.dataframe.frame.DataFrame",), _polars_write, _polars_read),
):
    register_dataframe_handler(_h)


def new_table_uri() -> str:
    """A fresh location for a table under the current run's prefix (a temp dir outside a run)."""
    from flyte._context import current_action

    ac = current_action.get()
    if ac is None:
        return tempfile.mkdtemp(prefix="flyte-df-")
    return join(ac.controller.run_prefix, "dataframes", uuid.uuid4().hex)


def _files_digest(uri: str) -> str | None:
    """Content hash of a table written on this machine (what cache keys use); None for remote ones."""
    if not _is_local(uri):
        return None
    h = hashlib.sha256()
    for f in _parquet_files(uri_to_path(uri)):
        with open(f, "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


def _user_hash(hash_method: Any, df: Any) -> str | None:
    """A cache key the user gives: a string, or a hash method (``update(df)`` then ``result()``)."""
    if hash_method is None or isinstance(hash_method, str):
        return hash_method
    update, result = getattr(hash_method, "update", None), getattr(hash_method, "result", None)
    if not (callable(update) and callable(result)):
        from flyte.errors import InvalidParameterError

        raise InvalidParameterError(
            "DataFrame.from_local",
            "hash_method",
            hash_method,
            "Use a string key or an object with update()/result().",
        )
    update(df)
    return str(result())


# ---- column annotations: Annotated[DataFrame, {"a": int}] / Annotated[DataFrame, "parquet"] -------------
def annotation_info(hint: Any) -> tuple[Any, dict[str, Any], str]:
    """(base type, columns, format) of a hint, reading ``Annotated`` metadata."""
    if typing.get_origin(hint) is typing.Annotated:
        base, *meta = typing.get_args(hint)
        columns: dict[str, Any] = {}
        fmt = GENERIC_FORMAT
        for m in meta:
            if isinstance(m, collections.abc.Mapping):
                columns.update(m)
            elif isinstance(m, str):
                fmt = m
        return base, columns, fmt
    return hint, {}, GENERIC_FORMAT


# ---- the value ------------------------------------------------------------------------------------------
@dataclass
class DataFrame(Generic[DF]):
    """A table passed by reference (``uri``, ``format``); ``hash`` stands in for its content in cache keys.

    Made with ``DataFrame.from_df(df)`` inside a task (stored when the task returns), or
    ``DataFrame.from_existing_remote(uri)``; read with ``await df.open(pd.DataFrame).all()``.
    """

    uri: str | None = None
    format: str | None = GENERIC_FORMAT
    hash: str | None = None

    def __post_init__(self) -> None:
        from flyte._validate import check_str

        check_str("DataFrame", "uri", self.uri, optional=True, nonempty=True)
        check_str("DataFrame", "format", self.format, optional=True)
        check_str("DataFrame", "hash", self.hash, optional=True, nonempty=True)
        self._raw_df: Any = None
        self._dataframe_type: Any = None
        self._columns: list[str] | None = None

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """Inside dataclasses, pydantic models and containers: a ``{"uri", "format", "hash"}`` record,
        the table stored when the record is written (as at a task boundary)."""
        from pydantic_core import core_schema

        def validate(value: Any) -> DataFrame[Any]:
            if isinstance(value, DataFrame):
                return value
            if isinstance(value, dict) and isinstance(value.get("uri"), str):
                return cls(uri=value["uri"], format=value.get("format") or PARQUET, hash=value.get("hash"))
            raise ValueError(f"expected a flyte.io.DataFrame, got {type(value).__name__}")

        def serialize(value: DataFrame[Any], info: Any) -> Any:
            return store_ref(value) if info.mode == "json" else value

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(serialize, info_arg=True),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        return {
            "title": "DataFrame",
            "type": "object",
            "x-flyte-type": "dataframe",
            "properties": {
                "uri": {"type": "string"},
                "format": {"type": "string"},
                "hash": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            },
            "required": ["uri"],
        }

    # ---- making one -----------------------------------------------------------------------------------
    @classmethod
    def wrap_df(cls, val: Any = None, uri: str | None = None) -> DataFrame[Any]:
        """Wrap a pandas/pyarrow/polars/Spark table; it is stored when it crosses a task boundary."""
        if val is not None and not isinstance(val, DataFrame) and handler_for(val) is None:
            from flyte.errors import InvalidParameterError

            raise InvalidParameterError(
                "DataFrame.from_df",
                "val",
                type(val).__name__,
                f"Use a table of a known library: {', '.join(known_types())}.",
            )
        fdf = cls(uri=uri)
        fdf._raw_df = val
        return fdf

    @classmethod
    def from_df(cls, val: Any = None, uri: str | None = None) -> DataFrame[Any]:
        """Same as ``wrap_df``."""
        return cls.wrap_df(val, uri=uri)

    @classmethod
    def from_local_sync(
        cls,
        df: Any,
        columns: typing.Mapping[str, type] | None = None,
        remote_destination: str | None = None,
        hash_method: Any = None,
    ) -> DataFrame[Any]:
        """Store ``df`` now (under the run's prefix, or ``remote_destination``) and reference it."""
        h = handler_for(df)
        if h is None:
            return cls.wrap_df(df)  # raises the clear error
        key = _user_hash(hash_method, df)
        uri = remote_destination or new_table_uri()
        h.write(df, uri)
        fdf = cls(uri=uri, format=PARQUET, hash=key or _files_digest(uri))
        fdf._raw_df = df
        fdf._columns = list(columns) if columns else None
        return fdf

    @classmethod
    async def from_local(
        cls,
        df: Any,
        columns: typing.Mapping[str, type] | None = None,
        remote_destination: str | None = None,
        hash_method: Any = None,
    ) -> DataFrame[Any]:
        return await asyncio.to_thread(cls.from_local_sync, df, columns, remote_destination, hash_method)

    @classmethod
    def from_existing_remote(
        cls, remote_path: str, format: str | None = None, **kwargs: Any
    ) -> DataFrame[Any]:
        """Reference Parquet data already in a store (a file or a directory of files)."""
        return cls(uri=remote_path, format=format or GENERIC_FORMAT, **kwargs)

    # ---- column metadata (Annotated[DataFrame, {...}] is read by the type transformer) -------------------
    @classmethod
    def columns(cls) -> dict[str, type]:
        return {}

    @classmethod
    def column_names(cls) -> list[str]:
        return list(cls.columns())

    @property
    def val(self) -> Any:
        """The wrapped table, when this value was made from one in this process."""
        return self._raw_df

    # ---- reading --------------------------------------------------------------------------------------
    def open(self, dataframe_type: type[DF]) -> DataFrame[DF]:
        """Choose the table type ``all()``/``iter()`` return: ``pd.DataFrame``, ``pa.Table``..."""
        if handler_for_type(dataframe_type) is None:
            from flyte.errors import InvalidParameterError

            raise InvalidParameterError(
                "DataFrame.open",
                "dataframe_type",
                dataframe_type,
                f"Use the table type of a known library: {', '.join(known_types())}.",
            )
        self._dataframe_type = dataframe_type
        return self  # type: ignore[return-value]

    def _require_type(self) -> Any:
        if self._dataframe_type is None:
            raise ValueError("DataFrame: call .open(<table type>) first, e.g. df.open(pd.DataFrame).all()")
        return self._dataframe_type

    def all_sync(self) -> DF:
        """The whole table as the type chosen with ``open``."""
        return typing.cast(DF, convert(self, self._require_type(), self._columns))

    async def all(self) -> DF:
        self._require_type()
        return await asyncio.to_thread(self.all_sync)

    async def iter(self) -> AsyncIterator[DF]:
        """The table one stored file at a time (a whole in-memory table is one item)."""
        target = self._require_type()
        if self.uri is None:
            one = await self.all()

            async def single() -> AsyncIterator[DF]:
                yield one

            return single()
        path = await asyncio.to_thread(_local_dir, self.uri)
        h = handler_for_type(target)
        assert h is not None
        columns = self._columns

        async def parts() -> AsyncIterator[DF]:
            for f in _parquet_files(path):
                yield await asyncio.to_thread(h.read, f, columns)

        return parts()


# ---- conversions ------------------------------------------------------------------------------------
def convert(value: Any, target: Any, columns: list[str] | None = None) -> Any:
    """``value`` (a flyte DataFrame or any known table) as ``target`` (a table type or ``DataFrame``)."""
    if isinstance(target, type) and issubclass(target, DataFrame):
        return as_flyte_dataframe(value, target)
    h = handler_for_type(target)
    if h is None:
        raise TypeError(f"no dataframe handler for {target!r}; known: {', '.join(known_types())}")
    raw = value.val if isinstance(value, DataFrame) else value
    uri = value.uri if isinstance(value, DataFrame) else None
    if raw is not None and isinstance(raw, target):
        return _select(raw, columns)
    if raw is not None and uri is None:
        src = handler_for(raw)
        uri = src.stored(raw) if src is not None else None
        if uri is None and src is not None:
            uri = tempfile.mkdtemp(prefix="flyte-df-")
            src.write(raw, uri)
    if uri is None:
        raise ValueError("DataFrame has neither a table nor a uri to read")
    return h.read(uri, columns)


def _select(df: Any, columns: list[str] | None) -> Any:
    if not columns:
        return df
    if hasattr(df, "select") and not hasattr(df, "loc"):  # pyarrow, polars
        return df.select(columns)
    return df[columns]


def as_flyte_dataframe(value: Any, cls: type[DataFrame[Any]] = DataFrame) -> DataFrame[Any]:
    if isinstance(value, DataFrame):
        return value
    return cls.wrap_df(value)


# ---- at task boundaries -------------------------------------------------------------------------------
_stored: dict[int, tuple[Any, dict[str, Any]]] = {}
_stored_lock = threading.Lock()


def _forget(key: int) -> Callable[[Any], None]:
    def drop(_ref: Any) -> None:
        _stored.pop(key, None)

    return drop


def _remember(value: Any, ref: dict[str, Any]) -> None:
    key = id(value)
    try:
        holder: Any = weakref.ref(value, _forget(key))
    except TypeError:
        return
    with _stored_lock:
        _stored[key] = (holder, ref)


def _recall(value: Any) -> dict[str, Any] | None:
    with _stored_lock:
        hit = _stored.get(id(value))
    if hit is not None and hit[0]() is value:
        return dict(hit[1])
    return None


def store_ref(value: Any) -> dict[str, Any]:
    """The JSON reference of a table at a task boundary, writing it to the run's store once."""
    if isinstance(value, DataFrame):
        if value.uri is not None:
            return {"uri": value.uri, "format": value.format or PARQUET, "hash": value.hash}
        ref = store_ref(value.val)
        value.uri, value.format = ref["uri"], ref["format"]
        value.hash = value.hash or ref.get("hash")
        return {**ref, "hash": value.hash}
    known = _recall(value)
    if known is not None:
        return known
    h = handler_for(value)
    if h is None:
        raise TypeError(
            f"expected a table of a known library ({', '.join(known_types())}), got {type(value)}"
        )
    uri = h.stored(value)
    if uri is None:
        uri = new_table_uri()
        h.write(value, uri)
    ref = {"uri": uri, "format": PARQUET, "hash": _files_digest(uri)}
    _remember(value, ref)
    return ref


class DataFrameTransformer:
    """``flyte.io.DataFrame`` at a task boundary: a ``{"uri", "format", "hash"}`` reference."""

    type_path = "flyte.io._dataframe.DataFrame"

    def validate(self, value: Any) -> None:
        if isinstance(value, DataFrame):
            return
        if handler_for(value) is None:
            raise TypeError(
                f"expected a flyte.io.DataFrame or a table ({', '.join(known_types())}), got {type(value)}"
            )

    def coerce(self, value: Any, hint: Any) -> Any:
        base, columns, _ = annotation_info(hint)
        out = as_flyte_dataframe(value, base if isinstance(base, type) else DataFrame)
        if columns and out._columns is None:
            out._columns = list(columns)
        return out

    def to_json(self, value: Any) -> Any:
        return store_ref(value)

    def hash_json(self, value: Any) -> Any:
        ref = store_ref(value)
        return {"hash": ref["hash"]} if ref.get("hash") else ref

    def from_json(self, data: Any, hint: Any) -> Any:
        base, columns, _ = annotation_info(hint)
        cls = base if isinstance(base, type) and issubclass(base, DataFrame) else DataFrame
        out = cls(uri=data["uri"], format=data.get("format") or PARQUET, hash=data.get("hash"))
        out._columns = list(columns) or None
        return out


class TableTransformer:
    """A library's table type (``pd.DataFrame``...) declared at a task boundary: stored as Parquet like
    ``flyte.io.DataFrame``, read back with that library; any other known table is converted."""

    def __init__(self, type_path: str) -> None:
        self.type_path = type_path

    def validate(self, value: Any) -> None:
        if isinstance(value, DataFrame) or handler_for(value) is not None:
            return
        raise TypeError(
            f"expected {self.type_path.rsplit('.', 1)[-1]} (or a flyte.io.DataFrame), got {type(value)}"
        )

    def coerce(self, value: Any, hint: Any) -> Any:
        base, columns, _ = annotation_info(hint)
        if isinstance(value, base) and not columns:
            return value
        return convert(value, base, list(columns) or None)

    def to_json(self, value: Any) -> Any:
        return store_ref(value)

    def hash_json(self, value: Any) -> Any:
        ref = store_ref(value)
        return {"hash": ref["hash"]} if ref.get("hash") else ref

    def from_json(self, data: Any, hint: Any) -> Any:
        base, columns, _ = annotation_info(hint)
        h = handler_for_type(base)
        if h is None:
            raise TypeError(f"no dataframe handler for {base!r}")
        return h.read(str(data["uri"]), list(columns) or None)


def register_types(registry: Any) -> None:
    """The core's ``flyte_register_types``: DataFrame and the built-in libraries' table types."""
    registry.add(DataFrameTransformer.type_path, DataFrameTransformer)
    for name in ("pandas", "pyarrow", "polars"):
        handler = next(h for h in _handlers.values() if h.name == name)
        for path in handler.type_paths:
            registry.add(path, lambda p=path: TableTransformer(p))
