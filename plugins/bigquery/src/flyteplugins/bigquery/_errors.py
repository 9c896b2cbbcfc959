"""Errors of BigQuery tasks: the BigQuery error text, its reason and the task's name."""

from __future__ import annotations

from typing import Any

from flyte.errors import NonRecoverableError

TRANSIENT_REASONS = frozenset(
    {"backendError", "internalError", "rateLimitExceeded", "jobBackendError", "jobInternalError"}
)
"""Reasons BigQuery gives for failures that a new job may not hit: these follow the task's retries."""


class BigQueryError(RuntimeError):
    """A BigQuery job failed, or the BigQuery API refused a request.

    ``task`` is the task's name, ``reason`` BigQuery's error reason (``invalidQuery``, ``notFound``,
    ``backendError``...), ``job_id`` the job (``project:location.id``) when one was created and
    ``errors`` every error BigQuery reported. The message is ``BigQuery task 'NAME': TEXT`` with
    BigQuery's own text.
    """

    def __init__(
        self,
        message: str,
        *,
        task: str = "",
        reason: str = "",
        job_id: str = "",
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        RuntimeError.__init__(self, message)
        self.task = task
        self.reason = reason
        self.job_id = job_id
        self.errors = list(errors or [])

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self), str(self), self.__dict__))


class BigQueryInvalidError(BigQueryError, NonRecoverableError):
    """A failure a new job cannot fix (bad SQL, a wrong parameter, a missing table, no project or
    credentials, a cancelled job): the task fails at once, without its retries."""

    def __init__(
        self,
        message: str,
        *,
        task: str = "",
        reason: str = "",
        job_id: str = "",
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        NonRecoverableError.__init__(self, message, code="BigQueryInvalidError")
        self.task = task
        self.reason = reason
        self.job_id = job_id
        self.errors = list(errors or [])


def _rebuild(cls: type[BigQueryError], message: str, state: dict[str, Any]) -> BigQueryError:
    err = cls(message)
    err.__dict__.update(state)
    return err


def job_error(
    task: str, reason: str, message: str, *, job_id: str = "", errors: list[dict[str, Any]] | None = None
) -> BigQueryError:
    """The error for a BigQuery failure: retryable for transient reasons, non-recoverable otherwise."""
    where = f" (job {job_id})" if job_id else ""
    text = f"BigQuery task {task!r}: {message}{where}"
    if reason:
        text += f" [reason: {reason}]"
    cls = BigQueryError if reason in TRANSIENT_REASONS else BigQueryInvalidError
    return cls(text, task=task, reason=reason, job_id=job_id, errors=errors)


def from_api_error(task: str, exc: BaseException, *, job_id: str = "") -> BigQueryError:
    """A ``google.api_core`` HTTP error (or another client error) with the server's text."""
    errors = [dict(e) for e in (getattr(exc, "errors", None) or []) if isinstance(e, dict)]
    first = errors[0] if errors else {}
    message = str(first.get("message") or getattr(exc, "message", "") or exc)
    reason = str(first.get("reason") or "")
    if not reason:
        code = getattr(exc, "code", None)
        reason = "backendError" if isinstance(code, int) and code >= 500 else ""
    if not reason and type(exc).__module__.startswith(("requests", "urllib3", "google.auth.transport")):
        reason = "backendError"  # the endpoint could not be reached: may pass
    return job_error(task, reason, message, job_id=job_id, errors=errors)
