"""The anchor SDK's ``flyte.extras.shell``: its declaration types, and ``create`` explained.

The anchor's ``shell.create`` wraps a command-line tool that lives in a published container image
(bedtools, samtools...) as a task whose inputs and outputs travel through the container's
``/var/inputs`` and ``/var/outputs``. The declaration vocabulary below (``Glob``, ``Stdout``,
``Stderr``, ``FlagSpec``) is provided so code that builds those declarations imports and validates;
``create`` itself raises :class:`flyte.extras.NotProvidedError`, because running a script inside an
arbitrary image needs the anchor's container runtime. For shell scripts on the local runtime use
``flyteplugins.shell.ShellTask`` (flyte-contrib-shell).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["DictMode", "FlagSpec", "Glob", "OutputSpec", "Stderr", "Stdout", "create", "listMode"]

listMode = Literal["join", "repeat", "comma"]
DictMode = Literal["pairs", "equals"]
_LIST_MODES = ("join", "repeat", "comma")
_DICT_MODES = ("pairs", "equals")


def _check_stream_type(owner: str, tp: Any) -> None:
    from flyte.io import File

    if tp is not File and tp not in (int, float, str, bool):
        raise TypeError(f"{owner}.type must be flyte.io.File or one of int/float/str/bool, got {tp!r}")


@dataclass(frozen=True)
class Glob:
    """An output that collects every file matching ``pattern`` the script wrote to its output folder."""

    pattern: str = "*"


@dataclass(frozen=True)
class Stdout:
    """An output taken from the script's standard output, as a File or parsed into a scalar."""

    type: Any = None

    def __post_init__(self) -> None:
        if self.type is None:
            from flyte.io import File

            object.__setattr__(self, "type", File)
        _check_stream_type("Stdout", self.type)


@dataclass(frozen=True)
class Stderr:
    """An output taken from the script's standard error, as a File or parsed into a scalar."""

    type: Any = None

    def __post_init__(self) -> None:
        if self.type is None:
            from flyte.io import File

            object.__setattr__(self, "type", File)
        _check_stream_type("Stderr", self.type)


OutputSpec = type | Glob | Stdout | Stderr


@dataclass(frozen=True)
class FlagSpec:
    """How ``{flags.<name>}`` renders an input: the flag text and the list/dict rendering modes."""

    flag: str
    list_mode: listMode = "join"
    separator: str = " "
    dict_mode: DictMode = "pairs"

    def __post_init__(self) -> None:
        if self.list_mode not in _LIST_MODES:
            raise TypeError(f"FlagSpec.list_mode must be one of {_LIST_MODES}, got {self.list_mode!r}")
        if self.dict_mode not in _DICT_MODES:
            raise TypeError(f"FlagSpec.dict_mode must be one of {_DICT_MODES}, got {self.dict_mode!r}")

    @classmethod
    def coerce(cls, name: str, alias: str | tuple[str, str] | FlagSpec | None) -> FlagSpec:
        """Turn a ``flag_aliases`` entry (None, a flag, ``(flag, mode)`` or a FlagSpec) into a FlagSpec."""
        if alias is None:
            return cls(flag=f"-{name}")
        if isinstance(alias, FlagSpec):
            return alias
        if isinstance(alias, str):
            return cls(flag=alias)
        if isinstance(alias, tuple) and len(alias) == 2:
            flag, mode = alias
            if mode in _LIST_MODES:
                return cls(flag=flag, list_mode=mode)  # type: ignore[arg-type]
            if mode in _DICT_MODES:
                return cls(flag=flag, dict_mode=mode)  # type: ignore[arg-type]
            raise TypeError(
                f"flag_aliases[{name!r}]: unknown mode {mode!r}; use one of {_LIST_MODES} for lists "
                f"or {_DICT_MODES} for dicts"
            )
        raise TypeError(
            f"flag_aliases[{name!r}]: expected a flag string, (flag, mode) or FlagSpec, got {alias!r}"
        )


def create(name: str, *, image: Any, script: str, **kwargs: Any) -> Any:
    """Not provided: the anchor runs ``script`` inside ``image``; see the module docstring."""
    from flyte.extras import NotProvidedError

    raise NotProvidedError(
        f"flyte.extras.shell.create({name!r}) is not provided: it runs the script inside the container "
        f"image {image!r} through the anchor's container runtime, which this SDK does not have. To run a "
        "shell script as a task here, use flyteplugins.shell.ShellTask (pip install flyte-contrib-shell)."
    )
