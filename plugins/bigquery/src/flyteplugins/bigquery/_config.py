"""BigQueryConfig (the task's ``plugin_config``) and how a google-cloud-bigquery client is made from it."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

EMULATOR_ENV = "BIGQUERY_EMULATOR_HOST"
"""``host:port`` or a URL of a BigQuery-API-compatible server; used when the config sets no Endpoint."""

_VERSION = "0.1.0"


@dataclass(frozen=True)
class BigQueryConfig:
    """Where and how the query job runs.

    ``ProjectID``: the project that runs (and is billed for) the job; when ``None``, the project of the
    standard Google credentials chain (``GOOGLE_CLOUD_PROJECT``, gcloud, the metadata server).
    ``Location``: the job's location (``"US"``, ``"EU"``, ``"europe-west1"``...); ``None`` lets
    BigQuery pick it from the datasets the query reads.
    ``QueryJobConfig``: a ``google.cloud.bigquery.QueryJobConfig`` with further job settings
    (destination table, write disposition, labels, maximum bytes billed, default dataset...).
    ``Endpoint``: a BigQuery-API-compatible server (an emulator) instead of Google's; the
    ``BIGQUERY_EMULATOR_HOST`` environment variable does the same. Emulators get anonymous
    credentials; Google's endpoint gets the standard credentials chain.
    ``google_application_credentials``: the name of a secret (``flyte.Secret`` key) holding a service
    account's JSON key; when set, Google's endpoint is called with that account instead of the chain.
    """

    ProjectID: str | None = None
    Location: str | None = None
    QueryJobConfig: Any = None
    Endpoint: str | None = None
    google_application_credentials: str | None = None

    def __post_init__(self) -> None:
        for name in ("ProjectID", "Location", "Endpoint", "google_application_credentials"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"BigQueryConfig: {name} must be a non-empty string or None, got {value!r}")
        cfg = self.QueryJobConfig
        if cfg is not None and not callable(getattr(cfg, "to_api_repr", None)):
            raise ValueError(
                "BigQueryConfig: QueryJobConfig must be a google.cloud.bigquery.QueryJobConfig, "
                f"got {type(cfg).__name__}"
            )

    def job_config_repr(self) -> dict[str, Any]:
        """The QueryJobConfig as its REST form (``configuration`` of a job), ``{}`` when unset."""
        if self.QueryJobConfig is None:
            return {}
        return dict(self.QueryJobConfig.to_api_repr())


def resolve_endpoint(config: BigQueryConfig | None) -> str | None:
    """The API endpoint to use: the config's, else ``$BIGQUERY_EMULATOR_HOST``, else Google's (None)."""
    value = (config.Endpoint if config is not None else None) or os.environ.get(EMULATOR_ENV) or None
    if value is None:
        return None
    value = value.strip().rstrip("/")
    if "://" not in value:
        value = "http://" + value
    return value


def credentials_from_secret(name: str) -> Any:
    """Service-account credentials from the secret ``name`` (its value is the account's JSON key).

    Raises ``LookupError`` naming the environment variable when the secret is not set.
    """
    import json

    from flyte._secret import Secret

    env = Secret(key=name).env_var_name
    value = os.environ.get(env)
    if not value:
        raise LookupError(
            f"the secret {name!r} (google_application_credentials) is not set: put the service account's "
            f"JSON key in the environment variable {env}"
        )
    from google.oauth2 import service_account

    try:
        info = json.loads(value)
    except ValueError as e:
        raise LookupError(f"the secret {name!r} ({env}) is not a service account's JSON key: {e}") from e
    return service_account.Credentials.from_service_account_info(info)  # type: ignore[no-untyped-call]


_clients: dict[tuple[str | None, str | None, str | None, str | None], Any] = {}
_clients_lock = threading.Lock()


def make_client(
    project: str | None, location: str | None, endpoint: str | None, credentials_secret: str | None = None
) -> Any:
    """A ``google.cloud.bigquery.Client`` (cached per project, location and endpoint).

    Raises the client's own errors: ``OSError`` when no project can be determined,
    ``google.auth.exceptions.DefaultCredentialsError`` when no credentials are found.
    """
    key = (project, location, endpoint, credentials_secret if endpoint is None else None)
    with _clients_lock:
        client = _clients.get(key)
    if client is not None:
        return client
    from google.api_core.client_info import ClientInfo
    from google.cloud import bigquery

    kwargs: dict[str, Any] = {
        "project": project,
        "location": location,
        "client_info": ClientInfo(user_agent=f"flyte-plugin-bigquery/{_VERSION}"),  # type: ignore[no-untyped-call]
    }
    if endpoint is not None:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials

        # An emulator has no credentials chain to ask for a project: the environment names it.
        project = (
            project or os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCLOUD_PROJECT") or None
        )
        if project is None:
            raise OSError("Project was not passed and could not be determined from the environment.")
        kwargs["project"] = project
        kwargs["credentials"] = AnonymousCredentials()  # type: ignore[no-untyped-call]
        kwargs["client_options"] = ClientOptions(api_endpoint=endpoint)
    elif credentials_secret is not None:
        kwargs["credentials"] = credentials_from_secret(credentials_secret)
    client = bigquery.Client(**kwargs)
    with _clients_lock:
        return _clients.setdefault(key, client)
