# covers: flyte.errors (class names, hierarchy, constructors)
# expect-source: anchor
# expect-exit: 0
# expect: {"missing": []}
# expect: {"is_base_runtime_error": {"CustomError": true, "OOMError": true, "RuntimeSystemError": true, "RuntimeUserError": true, "TaskTimeoutError": true}}
# expect: {"code": "MyCode", "kind": "user", "str_has_msg": true}
# expect: {"custom_code": "ValueError", "custom_is_user": true}
"""The error classes users catch or raise, and how they relate."""

import json

import flyte.errors as fe

NAMES = [
    "ActionAbortedError",
    "ActionNotFoundError",
    "BaseRuntimeError",
    "CustomError",
    "DeploymentError",
    "ImageBuildError",
    "InitializationError",
    "InlineIOMaxBytesBreached",
    "MaxRuntimeExceededError",
    "ModuleLoadError",
    "NonRecoverableError",
    "NotInTaskContextError",
    "OOMError",
    "OnlyAsyncIOSupportedError",
    "PrimaryContainerNotFoundError",
    "RemoteTaskNotFoundError",
    "RetriesExhaustedError",
    "RuntimeDataValidationError",
    "RuntimeSystemError",
    "RuntimeUnknownError",
    "RuntimeUserError",
    "TaskInterruptedError",
    "TaskTimeoutError",
    "TraceDoesNotAllowNestedTasksError",
    "DeadlineExceededError",
    "RestrictedTypeError",
    "ParameterMaterializationError",
    "ImagePullBackOffError",
    "InvalidImageNameError",
    "ConditionFailedError",
    "ConditionTimedoutError",
    "ResourceExhaustedError",
    "SlowDownError",
]

if __name__ == "__main__":
    missing = sorted(n for n in NAMES if not hasattr(fe, n))
    print("RESULT " + json.dumps({"missing": missing}))
    subclasses = {
        n: issubclass(getattr(fe, n), fe.BaseRuntimeError)
        for n in ("RuntimeUserError", "RuntimeSystemError", "OOMError", "TaskTimeoutError", "CustomError")
        if hasattr(fe, n)
    }
    print("RESULT " + json.dumps({"is_base_runtime_error": subclasses}))
    err = fe.RuntimeUserError("MyCode", "it broke")
    print("RESULT " + json.dumps({"code": err.code, "kind": err.kind, "str_has_msg": "it broke" in str(err)}))
    custom = fe.CustomError.from_exception(ValueError("something odd"))
    print(
        "RESULT "
        + json.dumps({"custom_is_user": isinstance(custom, fe.RuntimeUserError), "custom_code": custom.code})
    )
