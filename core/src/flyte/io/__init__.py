"""Offloaded values: ``File`` and ``Dir`` travel between tasks by reference, keyed by content hash."""

from flyte.io._dir import Dir, EmptyDir
from flyte.io._file import File
from flyte.io._hashing import HashFunction, HashlibAccumulator, HashMethod

PARQUET = "parquet"
"""The ``format`` name of Parquet data (``File[...]``/``Dir`` format tags and data frames)."""

__all__ = [
    "PARQUET",
    "Dir",
    "EmptyDir",
    "File",
    "HashFunction",
    "HashMethod",
    "HashlibAccumulator",
]
