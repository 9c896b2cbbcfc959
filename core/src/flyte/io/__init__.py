"""Offloaded values: ``File``, ``Dir`` and ``DataFrame`` travel between tasks by reference, keyed by
content hash."""

from flyte.io._dataframe import PARQUET, DataFrame
from flyte.io._dir import Dir, EmptyDir
from flyte.io._file import File
from flyte.io._hashing import HashFunction, HashlibAccumulator, HashMethod

__all__ = [
    "PARQUET",
    "DataFrame",
    "Dir",
    "EmptyDir",
    "File",
    "HashFunction",
    "HashMethod",
    "HashlibAccumulator",
]
