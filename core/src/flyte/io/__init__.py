"""Offloaded values: ``File`` and ``Dir`` travel between tasks by reference, keyed by content hash."""

from flyte.io._dataframe import PARQUET, DataFrame
from flyte.io._dir import Dir
from flyte.io._file import File

__all__ = ["PARQUET", "DataFrame", "Dir", "File"]
