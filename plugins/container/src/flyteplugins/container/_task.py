"""ContainerTask: any image and command as a flyte task of type ``raw-container``, with typed I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import flyte
from flyte.extend import NativeInterface, SerializationContext, TaskTemplate, outputs_type
from flyteplugins.container import _io

TASK_TYPE = "raw-container"


@dataclass(kw_only=True)
class ContainerTask(TaskTemplate[..., Any]):  # type: ignore[misc]
    """An image and a command as a task, with typed inputs and outputs (task type ``raw-container``).

    ``{{.inputs.NAME}}`` in ``command``/``arguments`` becomes the input's value (a ``File``/``Dir``
    input: its path in the container). Inputs are also written under ``input_data_dir`` (one file per
    input plus ``inputs.json``/``inputs.yaml``; ``File``/``Dir`` inputs mounted read-only there), and
    each declared output is read from ``output_data_dir/<name>`` after the container exits 0. One
    output is returned as its value, several as a NamedTuple, none as ``None``.

    ``resources`` become ``--memory``/``--cpus``; ``env_vars`` and ``secrets`` (looked up by their
    environment variable name on this machine) are set in the container. ``timeout``, ``retries`` and
    ``cache`` accept the short forms of ``@env.task`` (seconds, an int, ``"auto"``).
    """

    # Positional in the anchor's order (flyte.extras.ContainerTask): name, image, command, inputs,
    # arguments, outputs, input_data_dir, output_data_dir, metadata_format, local_logs, file_input_layout.
    name: str = field(kw_only=False)
    image: Any = field(kw_only=False)  # str | flyte.Image
    command: Sequence[str] = field(kw_only=False)
    inputs: Mapping[str, Any] = field(default_factory=dict, kw_only=False)  # None: no inputs
    arguments: Sequence[str] | None = field(default=None, kw_only=False)
    outputs: Mapping[str, Any] = field(default_factory=dict, kw_only=False)  # None: no outputs
    input_data_dir: str = field(default="/var/inputs", kw_only=False)  # or a pathlib path
    output_data_dir: str = field(default="/var/outputs", kw_only=False)
    metadata_format: str = field(default="JSON", kw_only=False)
    local_logs: bool = field(default=True, kw_only=False)
    """Also send the container's output to the ``flyteplugins.container`` logger (it is always kept
    in the action's log)."""
    file_input_layout: str = field(default="DIRECT", kw_only=False)
    """``"DIRECT"``: a ``File`` input is the file at ``<input_data_dir>/<name>``; ``"NAMED_DIR"``: a
    directory there holding the file under its own name (and extension)."""
    task_type: str = TASK_TYPE
    interface: NativeInterface = field(init=False, default=None, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"ContainerTask: name must be a non-empty string, got {self.name!r}")
        super().__post_init__()  # core: shorthand settings, short name, defining module
        owner = f"ContainerTask(name={self.name!r})"

        def put(k: str, v: Any) -> None:
            object.__setattr__(self, k, v)

        put("image", self._check_image(owner, self.image))
        put("command", self._check_argv(owner, "command", self.command, allow_empty=False))
        if self.arguments is not None:
            put("arguments", self._check_argv(owner, "arguments", self.arguments, allow_empty=True))
        inputs = self._check_names(owner, "inputs", {} if self.inputs is None else self.inputs)
        outputs = self._check_names(owner, "outputs", {} if self.outputs is None else self.outputs)
        if not isinstance(self.local_logs, bool):
            raise ValueError(f"{owner}: local_logs must be True or False, got {self.local_logs!r}")
        if self.file_input_layout not in ("DIRECT", "NAMED_DIR"):
            raise ValueError(
                f"{owner}: file_input_layout={self.file_input_layout!r}; use 'DIRECT' or 'NAMED_DIR'"
            )
        for name, t in outputs.items():
            if _io.kind(t) == "json":
                try:
                    from pydantic import TypeAdapter

                    TypeAdapter(t)
                except Exception as e:
                    raise ValueError(
                        f"{owner}: output {name!r} has type {t!r}, which cannot be read from a file "
                        f"({type(e).__name__}); use int, float, str, bool, flyte.io.File, flyte.io.Dir or "
                        "a JSON-able type (list, dict, dataclass, pydantic model)"
                    ) from None
        fmt = self.metadata_format.upper() if isinstance(self.metadata_format, str) else self.metadata_format
        if fmt not in _io.METADATA_FORMATS:
            why = " (PROTO metadata is Flyte's protobuf literals, which this runtime does not write)"
            raise ValueError(
                f"{owner}: metadata_format={self.metadata_format!r}; "
                f"use one of {sorted(_io.METADATA_FORMATS)}{why if fmt == 'PROTO' else ''}"
            )
        put("metadata_format", fmt)
        in_dir = self._check_dir(owner, "input_data_dir", self.input_data_dir)
        out_dir = self._check_dir(owner, "output_data_dir", self.output_data_dir)
        if in_dir == out_dir or in_dir.startswith(out_dir + "/") or out_dir.startswith(in_dir + "/"):
            raise ValueError(
                f"{owner}: input_data_dir {in_dir!r} and output_data_dir {out_dir!r} must be separate "
                "directories (inputs are mounted read-only, outputs writable)"
            )
        put("input_data_dir", in_dir)
        put("output_data_dir", out_dir)
        for arg in [*self.command, *(self.arguments or [])]:
            for m in _io.TEMPLATE.finditer(arg):
                if m.group(1) not in inputs:
                    raise ValueError(
                        f"{owner}: {m.group(0)} in the command refers to no declared input; declared "
                        f"inputs: {sorted(inputs)}"
                    )
            if "{{" in _io.TEMPLATE.sub("", arg) and ".inputs" in arg:
                raise ValueError(
                    f"{owner}: {arg!r} has a malformed input template; write {{{{.inputs.NAME}}}}"
                )
        if not isinstance(self.env_vars, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.env_vars.items()
        ):
            raise ValueError(f"{owner}: env_vars must map str to str, got {self.env_vars!r}")
        if self.resources is not None and not isinstance(self.resources, flyte.Resources):
            raise ValueError(f"{owner}: resources must be flyte.Resources(...), got {self.resources!r}")
        put("inputs", inputs)
        put("outputs", outputs)
        put("env_vars", dict(self.env_vars))
        put("interface", NativeInterface.from_types(inputs, outputs_type(self.name, outputs)))

    @staticmethod
    def _check_image(owner: str, image: Any) -> Any:
        if isinstance(image, flyte.Image):
            return image
        if not isinstance(image, str) or not image.strip() or any(c.isspace() for c in image):
            raise ValueError(
                f"{owner}: image must be an image reference such as 'python:3.11-slim' or a flyte.Image, "
                f"got {image!r}"
            )
        if image == "auto":
            raise ValueError(f"{owner}: image='auto' names no image; give the image the command runs in")
        return image

    @staticmethod
    def _check_argv(owner: str, what: str, value: Any, *, allow_empty: bool) -> list[str]:
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ValueError(
                f"{owner}: {what} must be a list of strings, e.g. ['sh', '-c', 'echo hi'], got {value!r}"
            )
        items = list(value)
        if not all(isinstance(a, str) for a in items):
            raise ValueError(f"{owner}: every item of {what} must be a string, got {value!r}")
        if not items and not allow_empty:
            raise ValueError(f"{owner}: {what} must not be empty")
        return items

    @staticmethod
    def _check_names(owner: str, what: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ValueError(
                f"{owner}: {what} must be a dict of name to type, e.g. {{'n': int}}; got {value!r}"
            )
        for name in value:
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"{owner}: {what} name {name!r} must be a Python identifier")
        return dict(value)

    @staticmethod
    def _check_dir(owner: str, what: str, value: Any) -> str:
        if isinstance(value, PurePath):
            value = value.as_posix()
        if not isinstance(value, str) or not value.startswith("/") or value.rstrip("/") == "":
            raise ValueError(f"{owner}: {what} must be an absolute directory in the container, got {value!r}")
        return value.rstrip("/")

    # ---- TaskTemplate hooks (serialisation) ---------------------------------------------------------
    @property
    def image_uri(self) -> str:
        """The image reference the container runs."""
        return self.image if isinstance(self.image, str) else str(self.image.uri)

    def container_args(self, sctx: SerializationContext) -> list[str]:
        """``command + arguments`` with inputs as ``{{.inputs.NAME}}`` templates."""
        return [_io.canonical(a) for a in [*self.command, *(self.arguments or [])]]

    def custom_config(self, sctx: SerializationContext) -> dict[str, Any]:
        """The data-loading contract (how inputs reach the container and outputs come back)."""
        return {
            "data_loading_config": {
                "enabled": True,
                "format": self.metadata_format,
                "input_path": self.input_data_dir,
                "output_path": self.output_data_dir,
                "metadata_file": _io.METADATA_FORMATS[self.metadata_format],
                "io_strategy": {"download_mode": "DOWNLOAD_EAGER", "upload_mode": "UPLOAD_ON_EXIT"},
                **({"file_input_layout": "NAMED_DIR"} if self.file_input_layout == "NAMED_DIR" else {}),
            },
            "inputs": {name: _io.kind(t) for name, t in self.inputs.items()},
            "outputs": {name: _io.kind(t) for name, t in self.outputs.items()},
        }

    def config(self, sctx: SerializationContext) -> dict[str, str]:
        """The same contract as flat strings, for backends that take string settings."""
        return {
            "input_data_dir": self.input_data_dir,
            "output_data_dir": self.output_data_dir,
            "metadata_format": self.metadata_format,
            "metadata_file": f"{self.input_data_dir}/{_io.METADATA_FORMATS[self.metadata_format]}",
            "inputs": ",".join(self.inputs),
            "outputs": ",".join(self.outputs),
            "mounted_inputs": ",".join(n for n, t in self.inputs.items() if _io.kind(t) in ("file", "dir")),
        }

    def version_material(self) -> str:
        inputs = [(k, repr(v)) for k, v in self.inputs.items()]
        outputs = [(k, repr(v)) for k, v in self.outputs.items()]
        return (
            f"ContainerTask|{self.image_uri}|{list(self.command)}|{list(self.arguments or [])}|{inputs}|"
            f"{outputs}|{self.input_data_dir}|{self.output_data_dir}|{self.metadata_format}|"
            f"{sorted(self.env_vars.items())}"
            + ("|NAMED_DIR" if self.file_input_layout == "NAMED_DIR" else "")
        )

    def render_args(self, texts: Mapping[str, str]) -> list[str]:
        """``command + arguments`` with each template replaced by its input's text."""
        return [_io.render(a, texts) for a in [*self.command, *(self.arguments or [])]]

    # ---- running outside a run (plain call) -----------------------------------------------------------
    async def execute(self, **inputs: Any) -> Any:
        """Run the container (used by plain calls; inside a run the backend does the same)."""
        from flyteplugins.container._backend import run_container_task

        return await run_container_task(self, inputs, None)
