"""Which container runtime runs the containers: podman or docker, found on PATH, podman first.

Overrides, strongest first: :func:`configure` (``runtime=...``), the ``FLYTE_CONTAINER_RUNTIME``
environment variable (``podman``, ``docker`` or a path to either binary). The same goes for the
network (``FLYTE_CONTAINER_NETWORK``, e.g. ``none``) and the pull policy (``FLYTE_CONTAINER_PULL``:
``missing``, ``never``, ``always``, ``newer``; the runtime's default when unset).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from flyteplugins.container._errors import ContainerRuntimeNotFoundError

ENV_RUNTIME = "FLYTE_CONTAINER_RUNTIME"
ENV_NETWORK = "FLYTE_CONTAINER_NETWORK"
ENV_PULL = "FLYTE_CONTAINER_PULL"
SEARCH_ORDER = ("podman", "docker")
_PULL_POLICIES = ("always", "missing", "never", "newer")

_settings: dict[str, Any] = {}
_UNSET: Any = object()


@dataclass(frozen=True)
class ContainerRuntime:
    """A runtime binary: ``name`` is ``"podman"`` or ``"docker"`` (the CLI dialect), ``path`` the binary."""

    name: str
    path: str


def configure(
    *,
    runtime: str | None = _UNSET,
    network: str | None = _UNSET,
    pull: str | None = _UNSET,
) -> None:
    """Set this process's runtime (``"podman"``, ``"docker"`` or a path), network and pull policy.

    ``None`` goes back to the environment variable / automatic choice.
    """
    if pull is not _UNSET and pull is not None and pull not in _PULL_POLICIES:
        raise ValueError(f"configure: pull={pull!r}; use one of {list(_PULL_POLICIES)} or None")
    for key, value in (("runtime", runtime), ("network", network), ("pull", pull)):
        if value is _UNSET:
            continue
        if value is None:
            _settings.pop(key, None)
        else:
            _settings[key] = value


def _setting(key: str, env: str) -> str | None:
    value = _settings.get(key) or os.environ.get(env) or None
    return str(value) if value is not None else None


def network() -> str | None:
    """The ``--network`` to pass, or None for the runtime's default."""
    return _setting("network", ENV_NETWORK)


def pull_policy() -> str | None:
    """The ``--pull`` policy to pass, or None for the runtime's default."""
    value = _setting("pull", ENV_PULL)
    if value is not None and value not in _PULL_POLICIES:
        raise ContainerRuntimeNotFoundError(
            f"{ENV_PULL}={value!r} is not a pull policy; use one of {list(_PULL_POLICIES)}"
        )
    return value


def _dialect(path: str) -> str:
    return "docker" if "docker" in os.path.basename(path) else "podman"


def find_runtime() -> ContainerRuntime:
    """The runtime to use: the configured one, else podman, else docker (both looked up on PATH)."""
    choice = _setting("runtime", ENV_RUNTIME)
    if choice:
        path = shutil.which(choice)
        if path is None:
            where = "configure(runtime=...)" if _settings.get("runtime") else ENV_RUNTIME
            raise ContainerRuntimeNotFoundError(
                f"The container runtime {choice!r} ({where}) was not found: give 'podman', 'docker' or the "
                "path of one of them."
            )
        return ContainerRuntime(_dialect(path), path)
    for name in SEARCH_ORDER:
        path = shutil.which(name)
        if path is not None:
            return ContainerRuntime(name, path)
    raise ContainerRuntimeNotFoundError(
        "No container runtime found: container tasks need podman (preferred) or docker on PATH "
        "(Debian/Ubuntu: apt-get install podman runc). To use another binary set "
        f"{ENV_RUNTIME}=/path/to/podman-or-docker."
    )


_probe_cache: dict[str, str | None] = {}


def runtime_problem() -> str | None:
    """Why containers cannot run here (no runtime, or ``<runtime> info`` fails); None when they can."""
    try:
        rt = find_runtime()
    except ContainerRuntimeNotFoundError as e:
        return str(e)
    if rt.path not in _probe_cache:
        try:
            p = subprocess.run([rt.path, "info"], capture_output=True, text=True, timeout=60)
            ok = p.returncode == 0
            detail = (p.stderr or p.stdout).strip().splitlines()[-1:] if not ok else []
        except (OSError, subprocess.TimeoutExpired) as e:
            ok, detail = False, [str(e)]
        _probe_cache[rt.path] = None if ok else f"'{rt.path} info' failed: {' '.join(detail)}"
    return _probe_cache[rt.path]
