"""Store settings objects for ``flyte.init(storage=...)``: they turn into our stores' options."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, fields
from typing import Any, ClassVar


@dataclass(init=True, repr=True, eq=True, frozen=True)
class Storage:
    """Settings every store takes: how often and how long to retry transient failures."""

    retries: int = 3
    backoff: datetime.timedelta = datetime.timedelta(seconds=5)
    enable_debug: bool = False
    attach_execution_metadata: bool = True

    _ENV: ClassVar[dict[str, str]] = {}

    def get_fsspec_kwargs(self, anonymous: bool = False, **kwargs: Any) -> dict[str, Any]:
        """The options ``flyte.init(storage=self)`` hands to the store (never secrets we did not get)."""
        out: dict[str, Any] = {"retry_deadline": max(1.0, self.retries * self.backoff.total_seconds())}
        out.update(kwargs)
        return out

    @classmethod
    def auto(cls) -> Storage:
        """Settings read from the environment variables the reference SDK reads."""
        own = {f.name for f in fields(cls)}
        env = os.environ
        found: dict[str, Any] = {k: env[v] for k, v in cls._ENV.items() if k in own and v in env}
        return cls(**found)


@dataclass(init=True, repr=True, eq=True, frozen=True)
class S3(Storage):
    """An S3 (or S3-compatible) store; credentials come from boto3's own chain unless given here."""

    endpoint: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    region: str | None = None
    addressing_style: str | None = None

    _ENV: ClassVar[dict[str, str]] = {
        "endpoint": "FLYTE_AWS_ENDPOINT",
        "access_key_id": "FLYTE_AWS_ACCESS_KEY_ID",
        "secret_access_key": "FLYTE_AWS_SECRET_ACCESS_KEY",
    }

    @classmethod
    def auto(cls, region: str | None = None) -> S3:  # type: ignore[override]
        base = super().auto()
        assert isinstance(base, S3)
        return S3(**{**base.__dict__, "region": region or base.region})

    @classmethod
    def for_sandbox(cls) -> S3:
        """A local S3-compatible endpoint (credentials: the AWS environment variables)."""
        return cls(endpoint="http://localhost:4566", addressing_style="path")

    def get_fsspec_kwargs(self, anonymous: bool = False, **kwargs: Any) -> dict[str, Any]:
        out = super().get_fsspec_kwargs(anonymous, **kwargs)
        if self.endpoint:
            out["endpoint_url"] = self.endpoint
        if self.region:
            out["region"] = self.region
        if self.addressing_style:
            out["addressing_style"] = self.addressing_style
        if self.access_key_id or self.secret_access_key:
            from flyte.errors import InvalidParameterError

            raise InvalidParameterError(
                "S3",
                "access_key_id/secret_access_key",
                "<hidden>",
                "flyte-plugin-s3 reads credentials from boto3's chain only (AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY, a profile, an instance role); set them there, not in flyte.init.",
            )
        return out


@dataclass(init=True, repr=True, eq=True, frozen=True)
class GCS(Storage):
    """Google Cloud Storage settings (no gs:// store plugin ships with this SDK yet)."""

    @classmethod
    def auto(cls) -> GCS:  # type: ignore[override]
        return cls()


@dataclass(init=True, repr=True, eq=True, frozen=True)
class ABFS(Storage):
    """Azure Blob settings (no abfs:// store plugin ships with this SDK yet)."""

    account_name: str | None = None
    account_key: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None

    _ENV: ClassVar[dict[str, str]] = {
        "account_name": "AZURE_STORAGE_ACCOUNT_NAME",
        "account_key": "AZURE_STORAGE_ACCOUNT_KEY",
        "tenant_id": "AZURE_TENANT_ID",
        "client_id": "AZURE_CLIENT_ID",
        "client_secret": "AZURE_CLIENT_SECRET",
    }

    @classmethod
    def auto(cls) -> ABFS:  # type: ignore[override]
        base = super().auto()
        assert isinstance(base, ABFS)
        return base

    def get_fsspec_kwargs(self, anonymous: bool = False, **kwargs: Any) -> dict[str, Any]:
        out = super().get_fsspec_kwargs(anonymous, **kwargs)
        if self.account_name:
            out["account_name"] = self.account_name
        return out
