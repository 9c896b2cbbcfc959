"""ShellTask: a shell script with typed inputs and outputs, run as a flyte task of type "shell"."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlparse

from flyte.extend import (
    NativeInterface,
    SerializationContext,
    TaskTemplate,
    as_text,
    check_io_names,
    outputs_type,
    parse_scalar_text,
    strip_optional,
    value_kind,
)
from flyte.io import Dir, File
from flyteplugins.shell import _render

TASK_TYPE = "shell"
logger = logging.getLogger("flyteplugins.shell")
KILL_GRACE_SECONDS = 2.0
"""After SIGTERM on cancellation or timeout, how long the script's process group may take to exit
before it gets SIGKILL."""
STDERR_TAIL_LINES = 20

_OUTPUT_TYPES = "int, float, str, bool, flyte.io.File or flyte.io.Dir"


class ShellTaskError(RuntimeError):
    """The script exited with a non-zero code (or was killed by a signal)."""

    def __init__(
        self, message: str, *, task: str = "", exit_code: int | None = None, stderr: str = ""
    ) -> None:
        super().__init__(message)
        self.task = task
        self.exit_code = exit_code
        self.stderr = stderr


class ShellOutputError(ValueError):
    """A declared output was not written by the script, or its content does not parse as its type."""

    def __init__(self, message: str, *, task: str = "", output: str = "", path: str = "") -> None:
        super().__init__(message)
        self.task = task
        self.output = output
        self.path = path


def _kind(t: Any) -> str | None:
    """'int' / 'float' / 'str' / 'bool' / 'file' / 'dir' for a supported output type, else None (an
    output is a file the script must write: neither JSON values nor optional outputs)."""
    kind = value_kind(t)
    return None if kind == "json" or strip_optional(t)[1] else kind


def _is_remote(path: str) -> bool:
    return urlparse(path).scheme not in ("", "file")


@dataclass(kw_only=True)
class ShellTask(TaskTemplate[..., Any]):  # type: ignore[misc]
    """A shell script as a task, with typed inputs and outputs.

    ``{inputs.NAME}`` in the script becomes the input's value, shell-quoted so that it is always one
    word of data (a ``File``/``Dir`` becomes its local path). ``{outputs.NAME}`` becomes the path of a
    file (a directory, for ``Dir`` outputs) the script writes; after the script exits 0 each output is
    read back and parsed to its declared type. One output is returned as its value, several as a
    NamedTuple with a field per output, none as ``None``.

    ``env`` adds environment variables for the script (merged into ``env_vars``); ``shell`` is the
    interpreter, run as ``shell -c SCRIPT`` in its own process group, killed on cancellation/timeout.
    ``timeout``, ``retries`` and ``cache`` also accept the short forms of ``@env.task`` (seconds, an
    int, ``"auto"``).
    """

    script: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] | None = None
    shell: str = "/bin/bash"
    task_type: str = TASK_TYPE
    plugin_distribution: ClassVar[str | None] = "flyte-contrib-shell"  # not flyte-plugin-shell (contrib)
    interface: NativeInterface = field(init=False, default=None, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        owner = f"ShellTask(name={self.name!r})"
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"ShellTask: name must be a non-empty string, got {self.name!r}")
        super().__post_init__()  # core: shorthand settings, short name, defining module
        if not isinstance(self.script, str) or not self.script.strip():
            raise ValueError(f"{owner}: script must be a non-empty string")
        if not isinstance(self.shell, str) or not self.shell:
            raise ValueError(f"{owner}: shell must be the path of an interpreter, e.g. '/bin/bash'")
        inputs = check_io_names(owner, "inputs", self.inputs)
        outputs = check_io_names(owner, "outputs", self.outputs)
        for name, t in outputs.items():
            if _kind(t) is None:
                raise ValueError(
                    f"{owner}: output {name!r} has type {t!r}; shell outputs are read from files, so the "
                    f"supported types are {_OUTPUT_TYPES}"
                )
        env = dict(self.env or {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise ValueError(f"{owner}: env must map str to str, got {self.env!r}")
        placeholders = _render.check_contexts(self.script, owner)
        for p in placeholders:
            declared = inputs if p.kind == "inputs" else outputs
            if p.name not in declared:
                raise ValueError(
                    f"{owner}: the script uses {p.text} (line {p.line_of(self.script)}) but declares no "
                    f"{p.kind[:-1]} {p.name!r}; declared {p.kind}: {sorted(declared)}"
                )
        used_outputs = {p.name for p in placeholders if p.kind == "outputs"}
        for name in outputs:
            if name not in used_outputs:
                raise ValueError(
                    f"{owner}: output {name!r} is declared but the script never writes {{outputs.{name}}}; "
                    "the script learns where to write an output only through its placeholder"
                )

        def put(k: str, v: Any) -> None:
            object.__setattr__(self, k, v)

        put("inputs", inputs)
        put("outputs", outputs)
        put("env", env or None)
        put("env_vars", {**dict(self.env_vars or {}), **env})
        put("interface", NativeInterface.from_types(inputs, outputs_type(self.name, outputs)))
        self.__dict__["_placeholders"] = placeholders

    # ---- TaskTemplate hooks (serialisation) ---------------------------------------------------------
    def custom_config(self, sctx: SerializationContext) -> dict[str, Any]:
        return {
            "script": self.script,
            "shell": self.shell,
            "outputs": {name: _kind(t) for name, t in self.outputs.items()},
        }

    def container_args(self, sctx: SerializationContext) -> list[str]:
        """``[shell, "-c", script]`` with inputs as ``{{.inputs.NAME}}`` and outputs under the output path."""

        def value_of(kind: str, name: str) -> str:
            if kind == "inputs":
                return _render.quote("{{.inputs." + name + "}}")
            return _render.quote(sctx.output_path.rstrip("/") + "/" + name)

        return [self.shell, "-c", _render.render(self.script, self._placeholders, value_of)]

    def version_material(self) -> str:
        inputs = [(k, repr(v)) for k, v in self.inputs.items()]
        outputs = [(k, repr(v)) for k, v in self.outputs.items()]
        return f"ShellTask|{self.shell}|{self.script}|{inputs}|{outputs}|{sorted(self.env_vars.items())}"

    @property
    def _placeholders(self) -> list[_render.Placeholder]:
        return self.__dict__["_placeholders"]  # type: ignore[no-any-return]

    # ---- running --------------------------------------------------------------------------------------
    def render_script(self, inputs: Mapping[str, Any], output_dir: str) -> str:
        """The script with input values (shell-quoted) and output paths filled in."""

        def value_of(kind: str, name: str) -> str:
            if kind == "inputs":
                return _render.quote(as_text(inputs[name]))
            return _render.quote(os.path.join(output_dir, name))

        return _render.render(self.script, self._placeholders, value_of)

    async def execute(self, **inputs: Any) -> Any:
        work = tempfile.mkdtemp(prefix="flyte-shell-")
        keep = False
        try:
            local = {name: await self._localize(name, value, work) for name, value in inputs.items()}
            out_dir = os.path.join(work, "outputs")
            os.makedirs(out_dir)
            for name, t in self.outputs.items():
                if _kind(t) == "dir":
                    os.makedirs(os.path.join(out_dir, name))
            code, stderr = await self._run(self.render_script(local, out_dir))
            if code != 0:
                raise self._exit_error(code, stderr)
            values = {name: await self._read_output(name, t, out_dir) for name, t in self.outputs.items()}
            keep = any(
                isinstance(v, (File, Dir)) and os.path.abspath(v.path).startswith(work + os.sep)
                for v in values.values()
            )
        finally:
            if not keep:  # outside a run, File/Dir outputs stay where the script wrote them
                shutil.rmtree(work, ignore_errors=True)
        if not values:
            return None
        if len(values) == 1:
            return next(iter(values.values()))
        return self.interface.output(**values)

    async def _localize(self, name: str, value: Any, work: str) -> Any:
        """File/Dir inputs become local paths (downloaded into the work dir when remote)."""
        if isinstance(value, (File, Dir)):
            if _is_remote(value.path):
                dest = os.path.join(work, "inputs", name, value.name or name)
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                return await value.download(dest)
            return await value.download()
        return value

    async def _run(self, script: str) -> tuple[int, str]:
        env = {**os.environ, **self.env_vars}
        proc = await asyncio.create_subprocess_exec(
            self.shell,
            "-c",
            script,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,  # its own process group: cancellation kills the children too
        )
        try:
            stdout, stderr = await proc.communicate()
        except BaseException:
            await _terminate(proc)
            raise
        assert proc.returncode is not None
        err = stderr.decode("utf-8", errors="replace")
        if logger.isEnabledFor(logging.DEBUG):
            out = stdout.decode("utf-8", errors="replace")
            logger.debug(
                "shell task %s exited %s\nstdout:\n%s\nstderr:\n%s", self.name, proc.returncode, out, err
            )
        return proc.returncode, err

    def _exit_error(self, code: int, stderr: str) -> ShellTaskError:
        lines = stderr.rstrip("\n").splitlines()[-STDERR_TAIL_LINES:]
        tail = "\n".join("  " + ln for ln in lines) if lines else "  (stderr was empty)"
        if code < 0:
            try:
                how = f"was killed by signal {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
        else:
            how = f"exited with code {code}"
        return ShellTaskError(
            f"Shell task {self.name!r} {how}. Last stderr lines:\n{tail}",
            task=self.name,
            exit_code=code,
            stderr="\n".join(lines),
        )

    async def _read_output(self, name: str, t: Any, out_dir: str) -> Any:
        path = os.path.join(out_dir, name)
        kind = _kind(t)
        if kind == "dir":
            return await Dir.from_local(path)
        if not os.path.isfile(path):
            raise ShellOutputError(
                f"Shell task {self.name!r}: output {name!r} is missing: the script exited 0 but did not "
                f"write the file {path} ({{outputs.{name}}})",
                task=self.name,
                output=name,
                path=path,
            )
        if kind == "file":
            return await File.from_local(path)
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        try:
            return parse_scalar_text(kind or "str", text)
        except ValueError:
            shown = text if len(text) <= 80 else text[:77] + "..."
            raise ShellOutputError(
                f"Shell task {self.name!r}: output {name!r} must be {kind} but the file {path} "
                f"holds {shown!r}",
                task=self.name,
                output=name,
                path=path,
            ) from None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the script's process group, SIGKILL it after a grace period, and reap the script."""
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.shield(proc.wait()), KILL_GRACE_SECONDS)
    except (TimeoutError, asyncio.CancelledError):
        pass
    finally:
        _signal_group(proc.pid, signal.SIGKILL)  # also stragglers the script left in its group
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(asyncio.shield(proc.wait()), KILL_GRACE_SECONDS)
