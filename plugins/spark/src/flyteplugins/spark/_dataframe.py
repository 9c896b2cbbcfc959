"""Spark DataFrames at task boundaries: written once as Parquet to the run's object store, passed on
as a small JSON reference, read back where they are needed.

A DataFrame returned by a Spark task is written under ``<run prefix>/<action id>/spark/`` and the
task returns, in its place, a DataFrame that reads those Parquet files (tagged with their reference).
The journal keeps only ``{"uri", "format", "schema"}``; the rows never pass through the parent.
Downstream, a Spark task reads the reference in its own session; a plain Python task reads the same
files with pandas or pyarrow (``to_pandas``/``to_arrow``), without a JVM.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import unquote, urlparse

SPARK_DF_TYPE = "pyspark.sql.dataframe.DataFrame"
PANDAS_DF_TYPE = "pandas.core.frame.DataFrame"
PANDAS_DF_TYPES = (PANDAS_DF_TYPE, "pandas.DataFrame")
"""pandas 3 reports its DataFrame's module as ``pandas``; earlier versions as ``pandas.core.frame``."""
_SPARK_DF_PATHS = {SPARK_DF_TYPE, "pyspark.sql.connect.dataframe.DataFrame"}
_REF_ATTR = "_flyte_parquet_ref"


# ---- what a value is ---------------------------------------------------------------------------
def _type_paths(value: Any) -> set[str]:
    return {f"{c.__module__}.{c.__qualname__}" for c in type(value).__mro__}


def is_spark_dataframe(value: Any) -> bool:
    """Checked by class path, so validating a value never imports pyspark."""
    return bool(_type_paths(value) & _SPARK_DF_PATHS)


def is_pandas_dataframe(value: Any) -> bool:
    return bool(_type_paths(value) & set(PANDAS_DF_TYPES))


def ref_of(value: Any) -> dict[str, Any] | None:
    """The Parquet reference a DataFrame was tagged with (read from ``__dict__``: a Spark DataFrame's
    ``__getattr__`` would look the name up as a column)."""
    d = getattr(value, "__dict__", None)
    ref = d.get(_REF_ATTR) if isinstance(d, dict) else None
    return ref if isinstance(ref, dict) else None


def _tag(df: Any, ref: dict[str, Any]) -> Any:
    df.__dict__[_REF_ATTR] = ref
    return df


def parquet_uri(value: Any) -> str | None:
    """Where a Spark task's DataFrame output is stored, or ``None`` for a DataFrame never stored."""
    ref = ref_of(value)
    return str(ref["uri"]) if ref else None


# ---- paths -------------------------------------------------------------------------------------
def join(prefix: str, *parts: str) -> str:
    return "/".join([prefix.rstrip("/"), *(p.strip("/") for p in parts)])


def spark_path(uri: str) -> str:
    """The path Spark's Hadoop filesystems understand for a store URI (``s3://`` is ``s3a://`` there)."""
    if uri.startswith("s3://"):
        return "s3a://" + uri[len("s3://") :]
    return uri


def local_path(uri: str) -> str:
    """A ``file://`` URI as a path (other schemes are returned as is, for fsspec-aware readers)."""
    if uri.startswith("file://"):
        return unquote(urlparse(uri).path)
    return uri


# ---- Spark side --------------------------------------------------------------------------------
def write_parquet(df: Any, uri: str) -> Any:
    """Write ``df`` as Parquet at ``uri`` and return a DataFrame that reads it back (same session)."""
    df.write.mode("overwrite").parquet(spark_path(uri))
    ref = {"uri": uri, "format": "parquet", "schema": df.schema.json()}
    return read_spark(ref, df.sparkSession)


def read_spark(ref: dict[str, Any], session: Any) -> Any:
    """A DataFrame over a stored reference; the recorded schema spares Spark a schema-inference job."""
    from pyspark.sql.types import StructType

    _register_pickling()
    reader = session.read
    schema = ref.get("schema")
    if schema:
        reader = reader.schema(StructType.fromJson(json.loads(schema)))
    return _tag(reader.parquet(spark_path(str(ref["uri"]))), dict(ref))


_pickling_registered = False


def _register_pickling() -> None:
    """Stored DataFrames pickle as their reference, so they can cross into worker processes (the
    core's process isolation sends values with cloudpickle, which honours ``copyreg``)."""
    global _pickling_registered
    if _pickling_registered:
        return
    import copyreg

    from pyspark.sql.dataframe import DataFrame

    copyreg.pickle(DataFrame, _reduce_dataframe)
    _pickling_registered = True


def _reduce_dataframe(df: Any) -> tuple[Any, tuple[dict[str, Any]]]:
    ref = ref_of(df)
    if ref is None:
        import pickle

        raise pickle.PicklingError(
            "A Spark DataFrame lives in its process's Spark session and cannot be sent to another "
            "process; return it from a Spark task (it is then stored as Parquet and passed by reference)"
        )
    return restore, (dict(ref),)


def restore(ref: dict[str, Any]) -> Any:
    """A stored DataFrame unpickled in another process: read back in that process's session (a
    local one is started when it has none; a Spark task with another conf then restarts it)."""
    return read_spark(ref, _reading_session())


def _reading_session() -> Any:
    from flyteplugins.spark._config import Spark
    from flyteplugins.spark._session import POOL

    session = POOL.session
    if session is None:
        session = POOL.acquire(Spark().session_conf())
        POOL.release(session)  # idle but kept: the next Spark task with this conf reuses it
    return session


def output_uri(name: str = "o0") -> str:
    """Where the current action's DataFrame output goes: under the run's prefix, by action ID."""
    import flyte

    tctx = flyte.ctx()
    if not tctx:  # outside a task flyte.ctx() is a falsy context
        raise RuntimeError(
            "A Spark DataFrame can be stored and passed on only inside a run (flyte.run); outside one, "
            "tasks are plain function calls and the DataFrame is returned as is."
        )
    return join(tctx.raw_data_path, tctx.action_id, "spark", f"{name}.parquet")


def persist(value: Any) -> Any:
    """A task's output with its DataFrame stored (an already-stored one is passed on unchanged)."""
    if not is_spark_dataframe(value):
        return value
    if ref_of(value) is not None:
        return value
    return write_parquet(value, output_uri())


def reread(value: Any, session: Any) -> Any:
    """A stored DataFrame input, bound to this task's session (the producer's may have been stopped)."""
    ref = ref_of(value)
    if ref is None or not is_spark_dataframe(value) or value.sparkSession is session:
        return value
    return read_spark(ref, session)


# ---- plain Python side -------------------------------------------------------------------------
def _ref_for_reading(value: Any) -> dict[str, Any]:
    if isinstance(value, dict) and "uri" in value:
        return value
    uri = getattr(value, "uri", None)
    if type(value).__module__ == "flyte.io._dataframe" and isinstance(uri, str):
        return {"uri": uri, "format": "parquet"}  # a stored flyte.io.DataFrame
    ref = ref_of(value)
    if ref is None:
        raise TypeError(
            f"expected a DataFrame returned by a Spark task (stored as Parquet), got {type(value).__name__}; "
            "a DataFrame built outside a Spark task has no stored copy to read"
        )
    return ref


def to_pandas(value: Any) -> Any:
    """A pandas DataFrame from a Spark task's DataFrame output, read from its Parquet files with
    pyarrow (no JVM); a pandas DataFrame is returned unchanged."""
    if is_pandas_dataframe(value):
        return value
    ref = _ref_for_reading(value)
    try:
        import pandas as pd
    except ImportError as e:
        raise ImportError(
            "Reading a Spark DataFrame with pandas needs: pip install 'flyte-plugin-spark[pandas]'"
        ) from e
    return pd.read_parquet(local_path(str(ref["uri"])))


def to_arrow(value: Any) -> Any:
    """A ``pyarrow.Table`` from a Spark task's DataFrame output (its Parquet files, no JVM); a pandas
    DataFrame (what a ``pd.DataFrame`` input receives) is converted in memory."""
    if is_pandas_dataframe(value):
        import pyarrow as pa

        return pa.Table.from_pandas(value, preserve_index=False)
    ref = _ref_for_reading(value)
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise ImportError(
            "Reading a Spark DataFrame with pyarrow needs: pip install 'flyte-plugin-spark[pandas]'"
        ) from e
    return pq.read_table(local_path(str(ref["uri"])))


# ---- type transformers (registered through the flyte_register_types hook) ------------------------
class SparkDataFrameTransformer:
    """``pyspark.sql.DataFrame`` at a task boundary: a Parquet reference in the journal. A
    ``flyte.io.DataFrame`` or another library's table given where a Spark DataFrame is declared is read
    into the task's session (``Annotated[DataFrame, {"col": type}]`` selects those columns)."""

    type_path = SPARK_DF_TYPE

    def validate(self, value: Any) -> None:
        if is_spark_dataframe(value):
            return
        from flyte.io._dataframe import DataFrame as FlyteDataFrame
        from flyte.io._dataframe import handler_for

        if isinstance(value, FlyteDataFrame) or handler_for(value) is not None:
            return
        raise TypeError(
            f"expected a pyspark.sql.DataFrame (or a flyte.io.DataFrame), got {type(value).__name__}"
        )

    def coerce(self, value: Any, hint: Any) -> Any:
        from flyte.io._dataframe import annotation_info, convert

        _, columns, _ = annotation_info(hint)
        if is_spark_dataframe(value):
            return value.select(*columns) if columns else value
        from pyspark.sql import DataFrame

        return convert(value, DataFrame, list(columns) or None)

    def to_json(self, value: Any) -> Any:
        if not is_spark_dataframe(value):
            from flyte.io._dataframe import store_ref

            return store_ref(value)
        ref = ref_of(value)
        if ref is None:
            # A DataFrame that no Spark task stored (e.g. built by the parent): store it now, once.
            ref = ref_of(write_parquet(value, output_uri(f"in-{os.urandom(6).hex()}")))
            _tag(value, dict(ref or {}))
        return dict(ref or {})

    def from_json(self, data: Any, hint: Any) -> Any:
        """Recovered and cached outputs: read back in the live session, or a local one."""
        from flyte.io._dataframe import annotation_info

        _, columns, _ = annotation_info(hint)
        df = restore(dict(data))
        return df.select(*columns) if columns else df


def _handler_write(df: Any, uri: str) -> None:
    df.write.mode("overwrite").parquet(spark_path(uri))


def _handler_read(uri: str, columns: list[str] | None) -> Any:
    df = read_spark({"uri": uri, "format": "parquet"}, _reading_session())
    return df.select(*columns) if columns else df


def spark_handler() -> Any:
    """How ``flyte.io.DataFrame`` stores and reads Spark DataFrames (Parquet, written by Spark itself)."""
    from flyte.io._dataframe import DataFrameHandler

    return DataFrameHandler(
        "pyspark", tuple(sorted(_SPARK_DF_PATHS)), _handler_write, _handler_read, stored=parquet_uri
    )


class PandasDataFrameTransformer:
    """Lets a plain task declare ``df: pandas.DataFrame`` and be handed a Spark task's output.

    Only the reference crosses the boundary; decoded values (recovery, cache hits, isolated workers)
    are read with pandas. pandas values of other tasks keep the core's default encoding: ``to_json``
    raises ``TypeError`` for them, which the core answers with its cloudpickle fallback.
    """

    type_path = PANDAS_DF_TYPE

    def validate(self, value: Any) -> None:
        if is_pandas_dataframe(value):
            return
        if is_spark_dataframe(value):
            if ref_of(value) is None:
                raise TypeError(
                    "a Spark DataFrame can be given to a pandas.DataFrame input only when a Spark task "
                    "returned it (it is then stored as Parquet); return it from a Spark task first"
                )
            return
        raise TypeError(f"expected a pandas.DataFrame, got {type(value).__name__}")

    def to_json(self, value: Any) -> Any:
        ref = ref_of(value) if is_spark_dataframe(value) else None
        if ref is None:
            raise TypeError("pandas DataFrames use the default encoding")
        return dict(ref)

    def from_json(self, data: Any, hint: Any) -> Any:
        return to_pandas(dict(data))
