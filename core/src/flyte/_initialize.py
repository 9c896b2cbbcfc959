"""Project/domain identity and the anchor's remote-oriented ``init_*`` entry points, run locally.

Locally there is no control plane: the ``init_*`` variants accept the anchor's arguments, record
project/domain/org (readable through :func:`current_project`/:func:`current_domain`, also in worker
processes through ``FLYTE_PROJECT``/``FLYTE_DOMAIN``) and configure the local runtime with
:func:`flyte.init`. API keys are accepted and never stored or logged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flyte.errors import InvalidParameterError, InvalidParameterTypeError

DEFAULT_PROJECT = "default"
DEFAULT_DOMAIN = "development"
_ENV = {"project": "FLYTE_PROJECT", "domain": "FLYTE_DOMAIN", "org": "FLYTE_ORG"}
_identity: dict[str, str] = {}


def record_identity(project: Any = None, domain: Any = None, org: Any = None) -> None:
    """Remember what ``init`` was given; exported so worker processes see the same values."""
    for key, value in (("project", project), ("domain", domain), ("org", org)):
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise InvalidParameterError("flyte.init", key, value, f"Use a non-empty string {key} name.")
        _identity[key] = value
        os.environ[_ENV[key]] = value


def _lookup(key: str, default: str) -> str:
    return _identity.get(key) or os.environ.get(_ENV[key]) or default


def current_project() -> str:
    """The project ``flyte.init`` was given (or ``$FLYTE_PROJECT``); locally ``"default"`` otherwise."""
    return _lookup("project", DEFAULT_PROJECT)


def current_domain() -> str:
    """The domain ``flyte.init`` was given (or ``$FLYTE_DOMAIN``); locally ``"development"`` otherwise."""
    return _lookup("domain", DEFAULT_DOMAIN)


def current_org() -> str | None:
    return _identity.get("org") or os.environ.get(_ENV["org"])


def _check_api_key(api_key: Any) -> None:
    if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
        cls = InvalidParameterError if isinstance(api_key, str) else InvalidParameterTypeError
        raise cls("flyte.init", "api_key", "<redacted>", "Use a non-empty string or None.")


def _local_init(root_dir: Path | str | None, storage: Any, project: Any, domain: Any, org: Any) -> None:
    from flyte._run import init

    record_identity(project=project, domain=domain, org=org)
    init(root_dir=root_dir, storage=storage)


def init_from_api_key(
    api_key: str | None = None,
    project: str | None = None,
    domain: str | None = None,
    root_dir: Path | None = None,
    log_level: int | None = None,
    log_format: Any = None,
    storage: Any = None,
    batch_size: int = 1000,
    image_builder: str = "local",
    images: dict[str, str] | None = None,
    sync_local_sys_paths: bool = True,
    insecure_skip_verify: bool = False,
    ca_cert_file_path: str | None = None,
) -> None:
    """Configure with an API key: locally the key is checked for shape only (there is no server)."""
    from flyte._run import check_init_keywords

    _check_api_key(api_key if api_key is not None else os.environ.get("FLYTE_API_KEY"))
    check_init_keywords(
        project=project,
        domain=domain,
        root_dir=root_dir,
        log_level=log_level,
        log_format=log_format,
        batch_size=batch_size,
        image_builder=image_builder,
        images=images,
        sync_local_sys_paths=sync_local_sys_paths,
        insecure_skip_verify=insecure_skip_verify,
        ca_cert_file_path=ca_cert_file_path,
    )
    _local_init(root_dir, storage, project, domain, None)


def init_in_cluster(
    org: str | None = None,
    project: str | None = None,
    domain: str | None = None,
    api_key: str | None = None,
    endpoint: str | None = None,
    insecure: bool = False,
) -> dict[str, Any]:
    """Configure from inside a task's pod. Locally: record the identity and return the settings used."""
    from flyte._run import check_init_keywords

    _check_api_key(api_key)
    check_init_keywords(org=org, project=project, domain=domain, endpoint=endpoint, insecure=insecure)
    _local_init(None, None, project, domain, org)
    return {"endpoint": endpoint, "insecure": insecure, "org": org, "project": project, "domain": domain}


def init_passthrough(
    endpoint: str | None = None,
    org: str | None = None,
    project: str | None = None,
    domain: str | None = None,
    insecure: bool = False,
) -> dict[str, Any]:
    """Configure with caller-supplied auth metadata. Locally: as :func:`init_in_cluster`."""
    from flyte._run import check_init_keywords

    check_init_keywords(org=org, project=project, domain=domain, endpoint=endpoint, insecure=insecure)
    _local_init(None, None, project, domain, org)
    return {"endpoint": endpoint, "insecure": insecure, "org": org, "project": project, "domain": domain}


def is_control_plane_available() -> bool:
    """Whether ``flyte.run`` reaches a remote control plane. This SDK always runs locally: False."""
    return False
