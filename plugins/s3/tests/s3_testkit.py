"""Helpers shared by the S3 tests (plain functions: fixtures stay in each test module)."""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flyte
import flyte._config
import pytest
from flyte._runtime import codec
from flyte._runtime.store import clear_store_cache
from flyteplugins.s3.testing import MotoServer, SeaweedServer

SECRET_KEY = "flyteTestSecret" + secrets.token_hex(12)
"""The AWS secret key of every test: it must never appear in a journal, a record or a log."""
ACCESS_KEY = "AKIAFLYTETEST" + secrets.token_hex(4).upper()


def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials through boto3's standard chain (the environment), and nothing else from AWS."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


SERVERS = ("seaweedfs", "moto")
"""The S3 servers the store and run tests run against: SeaweedFS (a real object store, data on disk,
real authentication) and moto's server (in memory; also used alone for fault injection)."""


def start_server(kind: str) -> MotoServer | SeaweedServer:
    """A started server of ``kind``; the caller stops it (``with``)."""
    if kind == "seaweedfs":
        return SeaweedServer(access_key=ACCESS_KEY, secret_key=SECRET_KEY).start()
    return MotoServer().start()


@dataclass
class S3Env:
    server: Any
    bucket: str
    home: Path
    tmp: Path

    @property
    def raw(self) -> str:
        return f"s3://{self.bucket}/data"

    def run_prefix(self, run_name: str) -> str:
        return f"{self.raw}/runs/{run_name}"

    def client(self) -> Any:
        return self.server.client()

    def keys(self, prefix: str = "") -> list[str]:
        c = self.client()
        out: list[str] = []
        for page in c.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            out += [o["Key"] for o in page.get("Contents") or ()]
        return out

    def get(self, key: str) -> bytes:
        return self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]

    def put(self, key: str, data: bytes) -> None:
        self.client().put_object(Bucket=self.bucket, Key=key, Body=data)


def s3_env(server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **storage: Any) -> Iterator[S3Env]:
    """A fresh bucket, FLYTE_HOME and ``flyte.init`` pointing runs at the bucket."""
    aws_env(monkeypatch)
    home = tmp_path / "home"
    monkeypatch.setenv("FLYTE_HOME", str(home))
    monkeypatch.delenv("FLYTE_CONFIG", raising=False)
    monkeypatch.delenv("FLYTE_PICKLE_KEY", raising=False)
    monkeypatch.delenv("FLYTE_STORAGE_OPTIONS", raising=False)
    monkeypatch.delenv("FLYTE_RECORD_EXPORT", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(flyte._config, "_settings", None)
    monkeypatch.setattr(codec, "_key_override", None)
    bucket = "b-" + uuid.uuid4().hex[:12]
    server.create_bucket(bucket)
    env = S3Env(server, bucket, home, tmp_path)
    flyte.init(raw_data_path=env.raw, storage=server.storage_options(**storage))
    try:
        yield env
    finally:
        clear_store_cache()


def wait_for(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {timeout}s")
        time.sleep(0.02)


def count(workdir: Path, name: str) -> int:
    p = workdir / name
    return len(p.read_text().splitlines()) if p.exists() else 0
