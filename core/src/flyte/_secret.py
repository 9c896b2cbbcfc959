"""Secrets a task needs, by name only: the value is looked up when the task runs, never stored here.

A secret is exposed to the task as an environment variable (``as_env_var``, or derived from the group
and key as the anchor SDK does: ``"my-api-key"`` -> ``MY_API_KEY``, group ``"g"`` -> ``G_MY_API_KEY``;
the derived name is stored in ``as_env_var``). Names are validated when the value is built.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flyte._validate import param_error
from flyte.errors import InvalidParameterError, InvalidParameterTypeError

__all__ = ["Secret", "SecretRequest", "normalize_secrets", "secrets_from_request"]

_ENV_VAR_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
# The one file mount the anchor SDK accepts (a cluster mounts the secret's file under it).
SECRETS_MOUNT = "/etc/flyte/secrets"


def _env_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9]", "_", text).upper()
    return f"_{name}" if name[:1].isdigit() else name


@dataclass(frozen=True)
class Secret:
    """A named secret in the secret store, injected into the task as an environment variable.

    - ``key``: the secret's name in the store.
    - ``group``: optional group (some stores organise secrets by group).
    - ``mount``: ``"/etc/flyte/secrets"`` (the only path the anchor accepts) asks a cluster to mount
      the secret as a file there; recorded in the spec. Local runs expose the secret only as the
      environment variable (derived from group and key when ``as_env_var`` is unset).
    - ``as_env_var``: the environment variable to expose it as; when neither it nor ``mount`` is
      given it is derived from group and key (``GROUP_KEY`` upper-cased, ``-`` -> ``_``).
    """

    key: str
    group: str | None = None
    mount: pathlib.Path | str | None = None
    as_env_var: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key.strip() or self.key != self.key.strip():
            raise param_error(
                "Secret",
                "key",
                self.key,
                "Use the secret's non-empty name in the store, e.g. 'openai-api-key'.",
                types=str,
            )
        if self.group is not None and (not isinstance(self.group, str) or not self.group.strip()):
            raise param_error("Secret", "group", self.group, "Use a non-empty group name or None.", types=str)
        if self.mount is not None and str(self.mount) != SECRETS_MOUNT:
            raise param_error(
                "Secret",
                "mount",
                self.mount,
                f"Only {SECRETS_MOUNT} is supported as secret mount path today; use "
                f"mount={SECRETS_MOUNT!r}, or leave mount=None and read the environment variable.",
                types=(str, pathlib.PurePath),
            )
        if not self.mount and self.as_env_var is None:
            object.__setattr__(self, "as_env_var", self.env_var_name)
        env = self.as_env_var
        if env is not None and (not isinstance(env, str) or not _ENV_VAR_RE.match(env)):
            suggestion = f" e.g. {_env_name(env)!r}" if isinstance(env, str) and env else ""
            raise param_error(
                "Secret",
                "as_env_var",
                env,
                "Invalid environment variable name. Use an environment variable name of uppercase "
                "letters, digits and underscores that does "
                f"not start with a digit (pattern {_ENV_VAR_RE.pattern}),"
                f"{suggestion or ' e.g. OPENAI_API_KEY'}.",
                types=str,
            )

    @property
    def env_var_name(self) -> str:
        """The environment variable the task reads: ``as_env_var``, else ``GROUP_KEY``/``KEY`` upper-cased."""
        if self.as_env_var is not None:
            return self.as_env_var
        return _env_name(f"{self.group}_{self.key}" if self.group else self.key)

    def stable_hash(self) -> str:
        """A hex digest of the secret's reference (never its value), the same in every process."""
        import hashlib

        parts = (self.key, self.group or "", str(self.mount) if self.mount else "", self.as_env_var or "")
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for task specs: names only, never a value."""
        out: dict[str, Any] = {"key": self.key, "group": self.group, "env_var": self.env_var_name}
        if self.mount:
            out["mount"] = str(self.mount)
        return out


SecretRequest = str | Secret | Sequence[str | Secret]

_ACCEPTED = (
    "Use a secret name, a flyte.Secret(...), or a list of them, e.g. secrets=['api-key', "
    "flyte.Secret('db-pass', as_env_var='DB_PASSWORD')]."
)


def normalize_secrets(value: SecretRequest | None, owner: str, param: str = "secrets") -> tuple[Secret, ...]:
    """Turn a user's ``secrets=`` value into a tuple of :class:`Secret`; env var names must be unique.

    ``param`` is the name the caller's parameter has (``secret_mounts`` on image builders)."""
    if value is None:
        return ()
    items: Sequence[object]
    if isinstance(value, (str, Secret)):
        items = (value,)
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise InvalidParameterTypeError(owner, param, value, _ACCEPTED)
    secrets: list[Secret] = []
    seen: dict[str, Secret] = {}
    for item in items:
        if isinstance(item, str):
            try:
                secret = Secret(key=item)
            except InvalidParameterError as e:
                raise type(e)(owner, param, value, e.accepted) from None
        elif isinstance(item, Secret):
            secret = item
        else:
            raise InvalidParameterError(owner, param, value, _ACCEPTED)
        other = seen.get(secret.env_var_name)
        if other is not None and other != secret:
            raise InvalidParameterError(
                owner,
                "secrets",
                value,
                f"Two secrets ({other.key!r} and {secret.key!r}) map to the environment variable "
                f"{secret.env_var_name!r}; give one of them a different as_env_var.",
            )
        if other is None:
            seen[secret.env_var_name] = secret
            secrets.append(secret)
    return tuple(secrets)


def secrets_from_request(secrets: SecretRequest) -> list[Secret]:
    """Anchor-compatible: the secrets of a request as a list."""
    return list(normalize_secrets(secrets, "secrets"))
