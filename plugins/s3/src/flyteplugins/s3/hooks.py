"""Entry point of the S3 plugin (``[project.entry-points."flyte.plugins"] s3 = ...``).

Imports nothing but the hook marker: boto3 is imported when the first ``s3://`` store is made.
"""

from __future__ import annotations

from typing import Any

from flyte.extend import hookimpl


def make_store(options: dict[str, Any] | None = None) -> Any:
    """The ``s3`` store factory: ``options`` are the ``storage`` settings (endpoint_url, region...)."""
    from flyteplugins.s3._store import S3ObjectStore

    return S3ObjectStore(options)


@hookimpl
def flyte_register_storage(registry: Any) -> None:
    registry.add("s3", make_store)
