"""Errors raised by flyte, with the anchor SDK's names.

A child's failure reaches its parent as an exception that is both the original type and
:class:`RuntimeUserError` (see :func:`flyte._runtime.errors_bridge`), so callers can catch either.
"""

from __future__ import annotations

from typing import Any, Literal

ErrorKind = Literal["system", "unknown", "user"]


class InvalidParameterError(ValueError):
    """A definition-time value is wrong; the message names the parameter, the value and the fix."""

    def __init__(self, owner: str, param: str, value: Any, accepted: str) -> None:
        self.owner = owner
        self.param = param
        self.value = value
        self.accepted = accepted
        super().__init__(f"{owner}: invalid {param}={value!r}. {accepted}")


class InvalidParameterTypeError(InvalidParameterError, TypeError):
    """A definition-time value has the wrong type; also a TypeError, as the anchor raises there."""


class BaseRuntimeError(RuntimeError):
    """Base for failures of a task execution (user, system or unknown)."""

    def __init__(
        self, code: str, kind: ErrorKind, root_cause_message: str, worker: str | None = None
    ) -> None:
        super().__init__(root_cause_message)
        self.code = code
        self.kind = kind
        self.worker = worker


class InitializationError(BaseRuntimeError):
    """Flyte was used before it was initialised, or initialised with a bad config."""

    def __init__(
        self, code: str, kind: ErrorKind, root_cause_message: str, worker: str | None = None
    ) -> None:
        super().__init__(code, kind, root_cause_message, worker)


class RuntimeSystemError(BaseRuntimeError):
    """The platform failed (storage, worker, scheduler), not the user's code."""

    def __init__(self, code: str, message: str, worker: str | None = None) -> None:
        super().__init__(code, "system", message, worker)


class RuntimeUserError(BaseRuntimeError):
    """The user's code failed. ``code`` names the original exception type."""

    def __init__(self, code: str, message: str, worker: str | None = None) -> None:
        super().__init__(code, "user", message, worker)


class RuntimeUnknownError(BaseRuntimeError):
    """A failure that could not be classified."""

    def __init__(self, code: str, message: str, worker: str | None = None) -> None:
        super().__init__(code, "unknown", message, worker)


class _UserMessageError(RuntimeUserError):
    """User errors built from a message alone; ``code`` is the class name."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(code or type(self).__name__, message)


class OOMError(_UserMessageError):
    """The task used more memory than its ``Resources.memory`` limit."""


class TaskInterruptedError(_UserMessageError):
    """The task was interrupted (cancelled, its worker stopped)."""


class PrimaryContainerNotFoundError(_UserMessageError):
    """A pod task's primary container was not found."""


class TaskTimeoutError(_UserMessageError):
    """The task ran past its timeout."""


class MaxQueuedTimeExceededError(TaskTimeoutError):
    """The action waited to start for longer than ``Timeout.max_queued_time``."""


class MaxRuntimeExceededError(TaskTimeoutError):
    """One attempt ran longer than ``Timeout.max_runtime``."""


class DeadlineExceededError(TaskTimeoutError):
    """All attempts together ran past ``Timeout.deadline``."""


class RetriesExhaustedError(_UserMessageError):
    """Every allowed attempt failed."""


class InvalidImageNameError(_UserMessageError):
    """An image name is not a valid reference."""


class ImagePullBackOffError(_UserMessageError):
    """An image could not be pulled."""


class CustomError(RuntimeUserError):
    """A user-defined error with its own code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)

    @classmethod
    def from_exception(cls, e: BaseException) -> CustomError:
        return cls(type(e).__name__, str(e))


class NotInTaskContextError(_UserMessageError):
    """An API that only works inside a task was called outside one."""


class ActionNotFoundError(RuntimeError):
    """No recorded action has that name or ID."""


class RuntimeDataValidationError(RuntimeUserError):
    """An input or output does not match the task's type hints."""

    def __init__(self, var: str, e: Exception | str, task_name: str = "") -> None:
        self.var = var
        self.task_name = task_name
        super().__init__(
            "DataValidationError",
            f"Task {task_name!r}: value for {var!r} does not match its type hint: {e}",
        )


class ModuleLoadError(_UserMessageError):
    """A module named on the command line (or recorded for a rerun) could not be loaded."""


class InlineIOMaxBytesBreached(_UserMessageError):
    """An inline input or output is larger than the task's ``max_inline_io_bytes``."""


class ActionAbortedError(_UserMessageError):
    """The action was aborted, e.g. because its parent failed or its deadline passed."""


class OnlyAsyncIOSupportedError(_UserMessageError):
    """Only asyncio event loops are supported."""


class SyncTaskCallInAsyncContextError(_UserMessageError):
    """A sync task was called from async code without ``.aio()``."""


class TraceDoesNotAllowNestedTasksError(_UserMessageError):
    """A task was called inside a ``flyte.trace`` function."""


class NonDeterminismError(_UserMessageError):
    """A replayed parent called a different task at a recorded position than it did before."""


class TaskTypeNotFoundError(_UserMessageError):
    """No installed plugin provides the task's type."""


class PluginError(_UserMessageError):
    """A plugin could not be loaded or registered something invalid."""


class RunNotFoundError(_UserMessageError):
    """No recorded run has that name."""


class StorageError(RuntimeSystemError):
    """The object store failed and stayed down past the retry limit."""

    def __init__(self, message: str) -> None:
        super().__init__("StorageError", message)


class NonRecoverableError(RuntimeUserError):
    """Raise this (or a subclass) to fail a task without retrying it."""

    def __init__(self, message: str, code: str = "NonRecoverableError") -> None:
        super().__init__(code, message)


class WorkerCrashedError(RuntimeSystemError):
    """A local worker process died (killed, segfault) while running the action; the runtime retried
    it on a fresh worker without counting against the task's retries, and this is the last failure."""

    def __init__(self, message: str) -> None:
        super().__init__("WorkerCrashed", message)


class AcceleratorUnavailableError(NonRecoverableError):
    """The task asks for accelerators this machine does not have (or that only a cluster provides)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="AcceleratorUnavailable")


class AppleSiliconNotAvailableError(AcceleratorUnavailableError):
    """The task asks for the Apple Silicon (Metal) GPU, which only an Apple Silicon Mac has."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.code = "APPLE_SILICON_NOT_AVAILABLE"
