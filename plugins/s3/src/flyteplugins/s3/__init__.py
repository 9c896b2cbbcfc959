"""flyte-plugin-s3: runs recorded in S3 (or any S3-compatible server) through boto3.

``flyte.init(raw_data_path="s3://bucket/prefix", storage={"endpoint_url": ..., "region": ...})`` puts
every action's offloaded inputs, outputs and ``File``/``Dir`` data, and each run's record, in the
bucket. Names are resolved lazily so that importing the package (and flyte's plugin discovery) never
imports boto3.
"""

from __future__ import annotations

from typing import Any

__all__ = ["S3ObjectStore", "parse_s3_uri"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from flyteplugins.s3 import _store

        return getattr(_store, name)
    raise AttributeError(f"module 'flyteplugins.s3' has no attribute {name!r}")
