"""Entities only a Flyte backend keeps: present by name, and every use raises ``NoBackendError``."""

from __future__ import annotations

from typing import Any, NoReturn

from flyte.errors import RuntimeUserError


class NoBackendError(RuntimeUserError):
    """The call needs a Flyte control plane, which this SDK does not have (it runs locally)."""

    def __init__(self, what: str) -> None:
        super().__init__(
            "NoBackend",
            f"flyte.remote.{what} needs a Flyte backend; this SDK runs on this machine and keeps no "
            f"{what.split('.')[0].lower()} records (runs, actions, deployed tasks and apps are in "
            "flyte.remote.Run / Action / Task / App)",
        )


def _fail(what: str) -> NoReturn:
    raise NoBackendError(what)


class _NoBackend:
    """Construction and every class method raise ``NoBackendError``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _fail(type(self).__name__)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for meth in ("get", "listall", "create", "delete", "update", "activate", "deactivate", "list"):
            setattr(cls, meth, classmethod(_raiser(f"{cls.__name__}.{meth}")))


def _raiser(what: str) -> Any:
    def call(cls: Any, *args: Any, **kwargs: Any) -> NoReturn:
        _fail(what)

    call.__name__ = what.rsplit(".", 1)[-1]
    return call


class Project(_NoBackend):
    """A backend's project (``flyte.init(project=...)`` is recorded with runs instead)."""


class Secret(_NoBackend):
    """A backend's secret store (local tasks read secrets from environment variables)."""


class User(_NoBackend):
    """The backend's signed-in user."""


class Settings(_NoBackend):
    """A backend's project/domain settings."""


class Trigger(_NoBackend):
    """A deployed trigger (a backend schedules them)."""


class TriggerDetails(_NoBackend):
    pass


class Artifact(_NoBackend):
    """A backend's artifact catalogue."""


class PartitionSchema(_NoBackend):
    pass


class Condition(_NoBackend):
    """A backend's condition (use flyte.new_condition inside a run)."""


class SecretTypes:
    """The secret kinds a backend knows (names only)."""

    REGULAR = "regular"
    IMAGE_PULL = "image_pull"


class TimeFilter:
    """A created/updated time range for a backend's list calls; not supported here."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _fail("TimeFilter")


def auth_metadata(*args: Any, **kwargs: Any) -> NoReturn:
    _fail("auth_metadata")


def upload_file(*args: Any, **kwargs: Any) -> NoReturn:
    """Use ``flyte.storage.put`` to copy a file into the object store."""
    _fail("upload_file")


def upload_dir(*args: Any, **kwargs: Any) -> NoReturn:
    """Use ``flyte.storage.put(..., recursive=True)`` to copy a folder into the object store."""
    _fail("upload_dir")
