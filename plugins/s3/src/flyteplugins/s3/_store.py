"""``S3ObjectStore``: flyte's object store on S3 or any S3-compatible server, through boto3.

Credentials come from boto3's standard chain only (environment, shared config/credentials files,
``profile``, container/instance roles); flyte's settings never hold them, so they cannot end up in
the journal, a run record, a log or a spec. Large files go through boto3's managed transfers
(multipart upload, ranged streaming download to a temporary file), so a file is never held whole in
memory. Transient failures are *classified* here (``is_transient``) and retried by flyte's runtime
(``flyte._runtime.store.RetryingStore``) with exponential backoff and jitter; botocore's own retries
are turned off so that one policy, with one deadline, applies.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from flyte.errors import InitializationError

MiB = 1024 * 1024

ACCEPTED_OPTIONS = {
    "endpoint_url": "URL of an S3-compatible server (default: AWS, or $AWS_ENDPOINT_URL)",
    "region": "bucket region (default: boto3's, e.g. $AWS_DEFAULT_REGION)",
    "profile": "a named profile of ~/.aws/config",
    "addressing_style": "'auto', 'path' or 'virtual'",
    "verify": "TLS verification: true/false or a CA bundle path",
    "connect_timeout": "seconds (default 10)",
    "read_timeout": "seconds (default 60)",
    "max_pool_connections": "HTTP connections kept per store (default 32)",
    "multipart_threshold": "bytes above which uploads are multipart (default 16 MiB)",
    "multipart_chunksize": "part size in bytes (default 8 MiB, at least 5 MiB)",
    "max_concurrency": "parallel parts per transfer (default 4)",
}
ALIASES = {"region_name": "region", "profile_name": "profile"}
CREDENTIAL_OPTIONS = {
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "access_key",
    "access_key_id",
    "secret_key",
    "secret_access_key",
    "session_token",
    "key",
    "secret",
    "token",
    "password",
}

TRANSIENT_CODES = {
    "500",
    "502",
    "503",
    "504",
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    "BandwidthLimitExceeded",
    "EC2ThrottledException",
}
NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}


def _check_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    for k, v in (options or {}).items():
        if v is None:
            continue
        k = ALIASES.get(k, k)
        if k.lower() in CREDENTIAL_OPTIONS:
            raise InitializationError(
                "BadStorageConfig",
                "user",
                f"storage option {k!r}: flyte does not take credentials in its settings (they would be "
                "one config file away from a log or a commit). Use boto3's standard chain instead: "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, storage={'profile': ...}, "
                "or an instance/container role.",
            )
        if k not in ACCEPTED_OPTIONS:
            accepted = ", ".join(sorted(ACCEPTED_OPTIONS))
            raise InitializationError(
                "BadStorageConfig", "user", f"unknown s3 storage option {k!r}; accepted: {accepted}"
            )
        opts[k] = v
    if opts.get("addressing_style", "auto") not in ("auto", "path", "virtual"):
        raise InitializationError(
            "BadStorageConfig", "user", "storage option addressing_style: use 'auto', 'path' or 'virtual'"
        )
    return opts


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` -> ``("bucket", "some/key")``; keys with ``.``/``..`` segments are refused.

    S3 itself would store ``a/../b`` literally, but other tools (and S3-compatible servers backed by a
    file system) resolve it, so a key that could name something outside its prefix is never built.
    """
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    rest = uri[5:]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise ValueError(f"s3 URI without a bucket: {uri!r}")
    if any(seg in (".", "..") for seg in key.split("/")):
        raise ValueError(f"refusing s3 key with '.' or '..' segments (it could leave its prefix): {uri!r}")
    return bucket, key


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    err = response.get("Error") or {}
    code = err.get("Code")
    if code:
        return str(code)
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return str(status) if status else None


def _http_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return int(status) if status else None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """An exception and what caused it (boto3's transfer errors wrap the client error)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        nxt = getattr(cur, "last_exception", None)  # s3transfer.RetriesExceededError
        cur = nxt if isinstance(nxt, BaseException) else (cur.__cause__ or cur.__context__)


def is_not_found(exc: BaseException) -> bool:
    return any(_error_code(e) in NOT_FOUND_CODES for e in _chain(exc))


class S3ObjectStore:
    """flyte's ``ObjectStore`` for ``s3://bucket/key`` URIs."""

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        opts = _check_options(options)
        self.options = opts
        session = boto3.session.Session(profile_name=opts.get("profile"))
        config = Config(
            region_name=opts.get("region"),
            connect_timeout=float(opts.get("connect_timeout", 10)),
            read_timeout=float(opts.get("read_timeout", 60)),
            retries={"total_max_attempts": 1, "mode": "standard"},  # flyte's runtime retries
            max_pool_connections=int(opts.get("max_pool_connections", 32)),
            s3={"addressing_style": opts.get("addressing_style", "auto")},
        )
        kwargs: dict[str, Any] = {"config": config}
        if opts.get("endpoint_url"):
            kwargs["endpoint_url"] = str(opts["endpoint_url"])
        if "verify" in opts:
            kwargs["verify"] = opts["verify"]
        self.client = session.client("s3", **kwargs)
        chunk = max(5 * MiB, int(opts.get("multipart_chunksize", 8 * MiB)))
        self.transfer = TransferConfig(
            multipart_threshold=int(opts.get("multipart_threshold", 16 * MiB)),
            multipart_chunksize=chunk,
            max_concurrency=int(opts.get("max_concurrency", 4)),
            io_chunksize=256 * 1024,
            max_io_queue=32,  # download buffer: at most 8 MiB waiting for the disk
            use_threads=True,
        )

    def __repr__(self) -> str:  # never the client (its repr is harmless, but keep logs short)
        endpoint = self.options.get("endpoint_url") or "aws"
        return f"S3ObjectStore(endpoint={endpoint!r})"

    # ---- classification (used by flyte's retrying wrapper) ----------------------------------------
    def is_transient(self, exc: BaseException) -> bool:
        """Connection refused/reset, timeouts, 5xx and throttling: worth retrying with backoff."""
        from botocore.exceptions import (
            ConnectionClosedError,
            ConnectionError,
            HTTPClientError,
            ReadTimeoutError,
        )

        for e in _chain(exc):
            if isinstance(e, (ConnectionError, ConnectionClosedError, HTTPClientError, ReadTimeoutError)):
                return True
            if isinstance(e, (ConnectionRefusedError, ConnectionResetError, TimeoutError)):
                return True
            if _error_code(e) in TRANSIENT_CODES:
                return True
            status = _http_status(e)
            if status is not None and (status >= 500 or status == 429):
                return True
            if type(e).__name__ in ("ProtocolError", "IncompleteRead", "ResponseStreamingError"):
                return True
        return False

    # ---- the ObjectStore protocol -----------------------------------------------------------------
    def put_bytes(self, uri: str, data: bytes) -> str:
        bucket, key = parse_s3_uri(uri)
        self.client.put_object(Bucket=bucket, Key=key, Body=data)
        return uri

    def get_bytes(self, uri: str) -> bytes:
        bucket, key = parse_s3_uri(uri)
        try:
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
        except Exception as e:
            if is_not_found(e):
                raise FileNotFoundError(f"no object at {uri}") from None
            raise
        try:
            return body.read()  # type: ignore[no-any-return]
        finally:
            body.close()

    def put_file(self, local_path: str, uri: str) -> str:
        bucket, key = parse_s3_uri(uri)
        if os.path.isdir(local_path):
            root = os.path.abspath(local_path)
            for dirpath, dirs, files in os.walk(root):
                dirs.sort()
                for name in sorted(files):
                    full = os.path.join(dirpath, name)
                    rel = os.path.relpath(full, root).replace(os.sep, "/")
                    self.client.upload_file(full, bucket, _join_key(key, rel), Config=self.transfer)
            return uri
        self.client.upload_file(os.fspath(local_path), bucket, key, Config=self.transfer)
        return uri

    def get_file(self, uri: str, local_path: str) -> str:
        bucket, key = parse_s3_uri(uri)
        if key and not key.endswith("/") and self._head(bucket, key):
            parent = os.path.dirname(os.path.abspath(local_path))
            os.makedirs(parent, exist_ok=True)
            # boto3 streams into a temporary file beside the target and renames it when complete
            self.client.download_file(bucket, key, local_path, Config=self.transfer)
            return local_path
        found = False
        root = os.path.abspath(local_path)
        for obj_key in self._keys(bucket, _dir_prefix(key)):
            rel = obj_key[len(_dir_prefix(key)) :]
            if not rel or rel.endswith("/"):
                continue  # a "directory marker" object
            dest = _safe_local(root, rel, uri)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            self.client.download_file(bucket, obj_key, dest, Config=self.transfer)
            found = True
        if not found:
            raise FileNotFoundError(f"no object or directory at {uri}")
        return local_path

    def exists(self, uri: str) -> bool:
        bucket, key = parse_s3_uri(uri)
        if key and not key.endswith("/") and self._head(bucket, key):
            return True
        resp = self.client.list_objects_v2(Bucket=bucket, Prefix=_dir_prefix(key), MaxKeys=1)
        return bool(resp.get("KeyCount") or resp.get("Contents"))

    # ---- extras (used by run records and tests) ---------------------------------------------------
    def list(self, uri: str) -> list[str]:
        """URIs of every object under ``uri`` (as a directory)."""
        bucket, key = parse_s3_uri(uri)
        return [f"s3://{bucket}/{k}" for k in self._keys(bucket, _dir_prefix(key))]

    def delete(self, uri: str) -> None:
        bucket, key = parse_s3_uri(uri)
        self.client.delete_object(Bucket=bucket, Key=key)

    def _head(self, bucket: str, key: str) -> bool:
        try:
            self.client.head_object(Bucket=bucket, Key=key)
            return True
        except Exception as e:
            if is_not_found(e):
                return False
            raise

    def _keys(self, bucket: str, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents") or ():
                yield obj["Key"]


def _join_key(prefix: str, rel: str) -> str:
    return f"{prefix.rstrip('/')}/{rel}" if prefix else rel


def _dir_prefix(key: str) -> str:
    return key if not key or key.endswith("/") else key + "/"


def _safe_local(root: str, rel: str, uri: str) -> str:
    """Where an object of a downloaded directory goes; never outside ``root`` (keys are not trusted)."""
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts) or rel.startswith("/"):
        raise ValueError(f"refusing to download {uri}/{rel}: the key would leave the target directory")
    dest = os.path.join(root, *parts)
    if os.path.commonpath([os.path.realpath(root), os.path.realpath(os.path.dirname(dest))]) != (
        os.path.realpath(root)
    ):
        raise ValueError(f"refusing to download {uri}/{rel}: the key would leave the target directory")
    return dest
