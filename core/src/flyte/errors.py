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


class _CodedUserError(RuntimeUserError):
    """User errors with the anchor's ``(code, message, worker=None)`` constructor; a single argument is
    taken as the message (``code`` is then the class name)."""

    def __init__(self, code: str, message: str | None = None, worker: str | None = None) -> None:
        if message is None:
            code, message = type(self).__name__, code
        super().__init__(code, message, worker)


class UnionRpcError(RuntimeSystemError):
    """A call to a remote control plane failed (never raised locally: there is none)."""


class GPUFaultError(BaseRuntimeError):
    """The failure was attributed to a GPU fault (an Xid/SXid event). Catch it for every GPU fault;
    the fault fields are None when unknown."""

    def __init__(
        self,
        code: str,
        kind: ErrorKind,
        message: str,
        worker: str | None = None,
        *,
        fault_kind: str | None = None,
        fault_code: int | None = None,
        fault_name: str | None = None,
        severity: str | None = None,
        gpu_uuid: str | None = None,
        gpu_index: int | None = None,
        node: str | None = None,
        pci_bus_id: str | None = None,
        process: str | None = None,
    ) -> None:
        BaseRuntimeError.__init__(self, code, kind, message, worker)
        self.fault_kind = fault_kind
        self.fault_code = fault_code
        self.fault_name = fault_name
        self.severity = severity
        self.gpu_uuid = gpu_uuid
        self.gpu_index = gpu_index
        self.node = node
        self.pci_bus_id = pci_bus_id
        self.process = process

    @property
    def xid(self) -> int | None:
        return self.fault_code if self.fault_kind == "xid" else None

    @property
    def sxid(self) -> int | None:
        return self.fault_code if self.fault_kind == "sxid" else None


class GPUFaultUserError(GPUFaultError, RuntimeUserError):
    """A GPU fault caused by the workload itself (e.g. an illegal memory access, Xid 31)."""

    def __init__(self, code: str, message: str, worker: str | None = None, **fault: Any) -> None:
        GPUFaultError.__init__(self, code, "user", message, worker, **fault)


class GPUFaultSystemError(GPUFaultError, RuntimeSystemError):
    """A GPU or node hardware fault the workload did not cause (e.g. the GPU fell off the bus)."""

    def __init__(self, code: str, message: str, worker: str | None = None, **fault: Any) -> None:
        GPUFaultError.__init__(self, code, "system", message, worker, **fault)


class OOMError(_CodedUserError):
    """The task used more memory than its ``Resources.memory`` limit."""


class TaskInterruptedError(_CodedUserError):
    """The task was interrupted (cancelled, its worker stopped)."""


class PrimaryContainerNotFoundError(_CodedUserError):
    """A pod task's primary container was not found."""


class TaskTimeoutError(_UserMessageError):
    """The task ran past its timeout."""


class MaxQueuedTimeExceededError(TaskTimeoutError):
    """The action waited to start for longer than ``Timeout.max_queued_time``."""


class MaxRuntimeExceededError(TaskTimeoutError):
    """One attempt ran longer than ``Timeout.max_runtime``."""


class DeadlineExceededError(TaskTimeoutError):
    """All attempts together ran past ``Timeout.deadline``."""


class RetriesExhaustedError(_CodedUserError):
    """Every allowed attempt failed."""


class InvalidImageNameError(_CodedUserError):
    """An image name is not a valid reference."""


class ImagePullBackOffError(_CodedUserError):
    """An image could not be pulled."""


class CustomError(RuntimeUserError):
    """A user-defined error with its own code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)

    @classmethod
    def from_exception(cls, e: BaseException) -> CustomError:
        return cls(type(e).__name__, str(e))


class NotInTaskContextError(_CodedUserError):
    """An API that only works inside a task was called outside one."""


class ActionNotFoundError(RuntimeError):
    """No recorded action has that name or ID."""


class RuntimeDataValidationError(RuntimeUserError, TypeError):
    """An input or output does not match the task's type hints; also a TypeError, which is
    what the anchor raises for a wrongly typed input."""

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
    """The run's store could not be read or written (unwritable, full, a file in the way, down).

    A system error: the runtime retries the attempt (``FLYTE_SYSTEM_RETRIES``) without using the
    task's retries, then fails the run; ``path`` names the store location that failed.
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__("StorageError", message)
        self.path = path


class RunOwnershipLostError(RuntimeSystemError):
    """Another driver took this run over (its lease expired while this driver was paused or cut off
    from the journal): that driver now owns the run. This one stopped its tasks and was refused any
    further journal write for the run, so nothing the new owner recorded is overwritten."""

    def __init__(self, run: str, host: str | None, owner: str | None, message: str) -> None:
        super().__init__("RunOwnershipLost", message)
        self.run = run
        self.host = host
        self.owner = owner

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.run, self.host, self.owner, str(self)))


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


# ---- names the anchor SDK exports for its remote features; raised here where the local runtime can --
class ConditionTimedoutError(_UserMessageError):
    """A condition was not signalled within its timeout."""


class ConditionFailedError(_UserMessageError):
    """A condition was resolved as failed."""


class ConditionAlreadyExistsError(_UserMessageError):
    """A condition with that name already exists in this run."""


class ConditionNotFoundError(_UserMessageError):
    """No condition with that name exists in this run."""


class RemoteTaskNotFoundError(_UserMessageError):
    """A referenced deployed task does not exist."""


class RemoteTaskUsageError(_UserMessageError):
    """A referenced deployed task was used in a way it does not support."""


class LogsNotYetAvailableError(BaseRuntimeError):
    """An action's logs are not available yet (it has not started)."""

    def __init__(self, message: str) -> None:
        super().__init__("LogsNotYetAvailable", "system", message)


class DeploymentError(_UserMessageError):
    """Deploying environments failed (a task could not be validated or serialised)."""


class ImageBuildError(_UserMessageError):
    """An image could not be built."""


class SlowDownError(_UserMessageError):
    """The service asked the client to slow down; try again later."""


class ResourceExhaustedError(SlowDownError):
    """A quota or capacity limit was reached."""


class ParameterMaterializationError(_UserMessageError):
    """An app parameter's value could not be materialised (downloaded, resolved)."""


class RestrictedTypeError(_UserMessageError):
    """A value of a type that is not allowed in this position was passed."""


class CodeBundleError(_UserMessageError):
    """The code bundle for a task could not be built or loaded."""


class InvalidPackageError(RuntimeUserError):
    """A package named for an image is not a valid requirement."""

    def __init__(self, package_name: str, original_error: str) -> None:
        self.package_name = package_name
        self.original_error = original_error
        super().__init__("InvalidPackageError", f"Invalid package {package_name!r}: {original_error}")


class AppleSiliconError(RuntimeUserError):
    """Base of the errors of tasks that run on an Apple Silicon host (not available here)."""

    def __init__(self, message: str, worker: str | None = None) -> None:
        super().__init__(type(self).__name__, message, worker)


class AppleSiliconHostExecFailedError(AppleSiliconError):
    """Running the task on the Apple Silicon host failed."""


class AppleSiliconDaemonStartFailedError(AppleSiliconError):
    """The Apple Silicon host daemon did not start."""


class AppleSiliconDaemonOOMError(AppleSiliconError):
    """The Apple Silicon host daemon ran out of memory."""


class AppleSiliconModelNotFoundError(AppleSiliconError):
    """The requested model is not on the Apple Silicon host."""


class AppleSiliconBridgeUnreachableError(AppleSiliconError):
    """The bridge to the Apple Silicon host could not be reached."""


class AppleSiliconNotAvailableError(AppleSiliconError, AcceleratorUnavailableError):
    """The task asks for the Apple Silicon (Metal) GPU, which only an Apple Silicon Mac has (an
    accelerator this machine lacks, and one of the anchor's Apple Silicon errors)."""

    def __init__(self, message: str, worker: str | None = None) -> None:
        RuntimeUserError.__init__(self, "APPLE_SILICON_NOT_AVAILABLE", message, worker)


class UnknownPluginConfigError(TaskTypeNotFoundError, InvalidParameterTypeError):
    """``plugin_config=`` is an object no installed plugin registered (issue 18 point 11).

    Raised where the config is given; a :class:`TaskTypeNotFoundError` and also an
    :class:`InvalidParameterTypeError` (``TypeError``/``ValueError``: the anchor raises ``ValueError``).
    """

    def __init__(self, message: str, value: Any = None) -> None:
        TaskTypeNotFoundError.__init__(self, message)
        self.owner = "plugin_config"
        self.param = "plugin_config"
        self.value = value
        self.accepted = message
