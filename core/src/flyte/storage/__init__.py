"""``flyte.storage``: copy data to and from the object store runs use (local folders, ``s3://`` with
flyte-plugin-s3), with the reference SDK's names. The transfer functions are coroutines, as there."""

from flyte.storage._config import ABFS, GCS, S3, Storage
from flyte.storage._storage import (
    exists,
    exists_sync,
    get,
    get_configured_fsspec_kwargs,
    get_random_local_directory,
    get_random_local_path,
    get_stream,
    get_underlying_filesystem,
    is_remote,
    join,
    open,
    put,
    put_stream,
)

__all__ = [
    "ABFS",
    "GCS",
    "S3",
    "Storage",
    "exists",
    "exists_sync",
    "get",
    "get_configured_fsspec_kwargs",
    "get_random_local_directory",
    "get_random_local_path",
    "get_stream",
    "get_underlying_filesystem",
    "is_remote",
    "join",
    "open",
    "put",
    "put_stream",
]
