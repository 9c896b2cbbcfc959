"""Errors of container tasks. Each reaches a parent task as itself and as ``RuntimeUserError``."""

from __future__ import annotations

from flyte.errors import NonRecoverableError


class ContainerTaskError(RuntimeError):
    """The container exited with a non-zero code. ``logs`` holds its last log lines."""

    def __init__(
        self, message: str, *, task: str = "", exit_code: int | None = None, logs: str = "", log_uri: str = ""
    ) -> None:
        super().__init__(message)
        self.task = task
        self.exit_code = exit_code
        self.logs = logs
        self.log_uri = log_uri


class ContainerOutputError(ValueError):
    """A declared output was not written under the output directory, or does not parse as its type."""

    def __init__(self, message: str, *, task: str = "", output: str = "", path: str = "") -> None:
        super().__init__(message)
        self.task = task
        self.output = output
        self.path = path


class ContainerRuntimeNotFoundError(NonRecoverableError):
    """No podman or docker binary was found (or the configured one does not exist)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="ContainerRuntimeNotFound")
