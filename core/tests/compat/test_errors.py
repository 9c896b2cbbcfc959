"""``flyte.errors`` has every exception class of the anchor SDK, with its bases and constructor."""

from __future__ import annotations

import inspect

import flyte
import flyte.errors as errors
import pytest

# From the anchor SDK (flyte==2.12.1): class -> (direct bases, constructor parameters). Parameter
# marks: "=name" keyword-only, "*args"/"**kw" variadic.
ANCHOR_ERRORS: dict[str, tuple[str, str]] = {
    'BaseRuntimeError': ('RuntimeError', 'code kind root_cause_message worker'),
    'InitializationError': ('BaseRuntimeError', 'code kind root_cause_message worker'),
    'RuntimeSystemError': ('BaseRuntimeError', 'code message worker'),
    'UnionRpcError': ('RuntimeSystemError', 'code message worker'),
    'RuntimeUserError': ('BaseRuntimeError', 'code message worker'),
    'RuntimeUnknownError': ('BaseRuntimeError', 'code message worker'),
    'OOMError': ('RuntimeUserError', 'code message worker'),
    'GPUFaultError': ('BaseRuntimeError', 'code kind message worker =fault_kind =fault_code =fault_name '
                      '=severity =gpu_uuid =gpu_index =node =pci_bus_id =process'),
    'GPUFaultUserError': ('GPUFaultError, RuntimeUserError', 'code message worker **fault'),
    'GPUFaultSystemError': ('GPUFaultError, RuntimeSystemError', 'code message worker **fault'),
    'TaskInterruptedError': ('RuntimeUserError', 'code message worker'),
    'PrimaryContainerNotFoundError': ('RuntimeUserError', 'code message worker'),
    'TaskTimeoutError': ('RuntimeUserError', 'message code'),
    'MaxQueuedTimeExceededError': ('TaskTimeoutError', 'message'),
    'MaxRuntimeExceededError': ('TaskTimeoutError', 'message'),
    'DeadlineExceededError': ('TaskTimeoutError', 'message'),
    'ConditionTimedoutError': ('RuntimeUserError', 'message'),
    'RetriesExhaustedError': ('RuntimeUserError', 'code message worker'),
    'InvalidImageNameError': ('RuntimeUserError', 'code message worker'),
    'ImagePullBackOffError': ('RuntimeUserError', 'code message worker'),
    'CustomError': ('RuntimeUserError', 'code message'),
    'NotInTaskContextError': ('RuntimeUserError', 'code message worker'),
    'ActionNotFoundError': ('RuntimeError', '*args **kwargs'),
    'RemoteTaskNotFoundError': ('RuntimeUserError', 'message'),
    'RemoteTaskUsageError': ('RuntimeUserError', 'message'),
    'LogsNotYetAvailableError': ('BaseRuntimeError', 'message'),
    'RuntimeDataValidationError': ('RuntimeUserError', 'var e task_name'),
    'DeploymentError': ('RuntimeUserError', 'message'),
    'ImageBuildError': ('RuntimeUserError', 'message'),
    'ModuleLoadError': ('RuntimeUserError', 'message'),
    'InlineIOMaxBytesBreached': ('RuntimeUserError', 'message'),
    'ActionAbortedError': ('RuntimeUserError', 'message'),
    'SlowDownError': ('RuntimeUserError', 'message'),
    'ResourceExhaustedError': ('SlowDownError', 'message'),
    'OnlyAsyncIOSupportedError': ('RuntimeUserError', 'message'),
    'ParameterMaterializationError': ('RuntimeUserError', 'message'),
    'RestrictedTypeError': ('RuntimeUserError', 'message'),
    'CodeBundleError': ('RuntimeUserError', 'message'),
    'SyncTaskCallInAsyncContextError': ('RuntimeUserError', 'message'),
    'TraceDoesNotAllowNestedTasksError': ('RuntimeUserError', 'message'),
    'InvalidPackageError': ('RuntimeUserError', 'package_name original_error'),
    'NonRecoverableError': ('RuntimeUserError', 'message code'),
    'ConditionAlreadyExistsError': ('RuntimeUserError', 'message'),
    'ConditionFailedError': ('RuntimeUserError', 'message'),
    'ConditionNotFoundError': ('RuntimeUserError', 'message'),
    'AppleSiliconError': ('RuntimeUserError', 'message worker'),
    'AppleSiliconNotAvailableError': ('AppleSiliconError', 'message worker'),
    'AppleSiliconHostExecFailedError': ('AppleSiliconError', 'message worker'),
    'AppleSiliconDaemonStartFailedError': ('AppleSiliconError', 'message worker'),
    'AppleSiliconDaemonOOMError': ('AppleSiliconError', 'message worker'),
    'AppleSiliconModelNotFoundError': ('AppleSiliconError', 'message worker'),
    'AppleSiliconBridgeUnreachableError': ('AppleSiliconError', 'message worker'),
}  # fmt: skip


def _params(cls: type) -> list[tuple[str, str, bool]]:
    marks = {
        inspect.Parameter.KEYWORD_ONLY: "=",
        inspect.Parameter.VAR_POSITIONAL: "*",
        inspect.Parameter.VAR_KEYWORD: "**",
        inspect.Parameter.POSITIONAL_ONLY: "/",
        inspect.Parameter.POSITIONAL_OR_KEYWORD: "",
    }
    ps = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
    return [(marks[p.kind] + p.name, p.name, p.default is not inspect.Parameter.empty) for p in ps]


@pytest.mark.parametrize("name", sorted(ANCHOR_ERRORS))
def test_error_class_matches_anchor(name: str) -> None:
    cls = getattr(errors, name)
    assert isinstance(cls, type) and issubclass(cls, BaseException)
    bases, params = ANCHOR_ERRORS[name]
    mro = {c.__name__ for c in cls.__mro__}
    for base in bases.split(", "):
        assert base in mro, f"{name} should derive from {base}"
    ours = _params(cls)
    wanted = params.split()
    assert [m for m, _, _ in ours[: len(wanted)]] == wanted
    extra = ours[len(wanted) :]
    assert all(has_default or mark.startswith("*") for mark, _, has_default in extra), extra


def _anchor_args(name: str) -> list[object]:
    """One value per plain parameter of the anchor's constructor (what anchor-era code passes)."""
    values = {"kind": "user", "e": "bad value", "var": "x", "package_name": "nump", "original_error": "typo"}
    plain = [p for p in ANCHOR_ERRORS[name][1].split() if p[0] not in "=*/"]
    return [values.get(p, f"<{p}>") for p in plain] or ["<message>"]


@pytest.mark.parametrize("name", sorted(ANCHOR_ERRORS))
def test_error_constructs_with_anchor_arguments(name: str) -> None:
    cls = getattr(errors, name)
    e = cls(*_anchor_args(name))
    text = str(e)
    assert text, name
    if isinstance(e, errors.BaseRuntimeError):
        assert isinstance(e.code, str) and e.code
        assert e.kind in ("user", "system", "unknown")
    if "message" in ANCHOR_ERRORS[name][1].split():
        assert "<message>" in text


def test_coded_errors_accept_anchor_and_short_forms() -> None:
    e = errors.OOMError("OOMKilled", "out of memory", "worker-1")
    assert (e.code, str(e), e.worker) == ("OOMKilled", "out of memory", "worker-1")
    short = errors.OOMError("out of memory")
    assert (short.code, str(short)) == ("OOMError", "out of memory")


def test_gpu_fault_fields() -> None:
    e = errors.GPUFaultUserError("GPUFault", "illegal address", fault_kind="xid", fault_code=31, gpu_index=0)
    assert isinstance(e, errors.GPUFaultError) and isinstance(e, errors.RuntimeUserError)
    assert (e.kind, e.xid, e.sxid, e.gpu_index) == ("user", 31, None, 0)
    s = errors.GPUFaultSystemError("GPUFault", "fell off the bus", fault_kind="sxid", fault_code=14)
    assert isinstance(s, errors.RuntimeSystemError) and (s.kind, s.sxid, s.xid) == ("system", 14, None)


def test_invalid_package_and_resource_exhausted() -> None:
    e = errors.InvalidPackageError("nump", "no such distribution")
    assert e.package_name == "nump" and "nump" in str(e) and "no such distribution" in str(e)
    assert issubclass(errors.ResourceExhaustedError, errors.SlowDownError)


env = flyte.TaskEnvironment(name="errs", isolation="process")


@env.task
def refuses() -> int:
    raise errors.ConditionFailedError("reviewer said no")


def test_new_error_crosses_a_worker_process_with_its_type() -> None:
    with pytest.raises(errors.ConditionFailedError, match="reviewer said no") as e:
        flyte.run(refuses)
    assert e.value.flyte_run.status == "FAILED"  # type: ignore[attr-defined]
