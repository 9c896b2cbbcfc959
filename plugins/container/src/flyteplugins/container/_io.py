"""The data contract between a container task and its container.

Inputs, under ``input_data_dir`` (mounted read-only):

* a file per input named after it: ``str`` as is, ``int``/``float`` as text, ``bool`` as
  ``true``/``false``, other values (lists, dicts, dataclasses, dates...) as JSON; ``None`` as an
  empty file;
* ``flyte.io.File``/``Dir`` inputs are bind-mounted read-only at ``input_data_dir/<name>``;
* one metadata file with every input: ``inputs.json`` (``metadata_format="JSON"``) or
  ``inputs.yaml`` (``"YAML"``); files and directories appear as their path in the container.

Outputs: each declared output is read from ``output_data_dir/<name>`` once the container exited 0:
``int``/``float``/``bool``/``str`` parsed from text, ``File``/``Dir`` taken as the file/directory
there, anything else parsed as JSON and validated against the type. A missing or unparsable output
fails with :class:`ContainerOutputError` naming the output and the file. An ``Optional`` output
may be left unwritten (it is then ``None``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from typing import Any

from flyte.extend import as_text, parse_scalar_text, strip_optional, value_kind
from flyte.io import Dir, File
from flyteplugins.container._engine import Mount
from flyteplugins.container._errors import ContainerOutputError

TEMPLATE = re.compile(r"\{\{\s*\.inputs\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
"""``{{.inputs.NAME}}`` (spaces inside the braces allowed) in the command or arguments."""
METADATA_FORMATS = {"JSON": "inputs.json", "YAML": "inputs.yaml"}
kind = value_kind  # int/float/str/bool/file/dir, else json (flyte.extend: shared with the shell plugin)


def _jsonable(value: Any) -> Any:
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value)


def render(arg: str, values: Mapping[str, str]) -> str:
    """``arg`` with every ``{{.inputs.NAME}}`` replaced by ``values[NAME]``."""
    return TEMPLATE.sub(lambda m: values[m.group(1)], arg)


def canonical(arg: str) -> str:
    """``arg`` with templates written as ``{{.inputs.NAME}}`` (no inner spaces)."""
    return TEMPLATE.sub(lambda m: "{{.inputs." + m.group(1) + "}}", arg)


def _is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _local_path(path: str) -> str:
    if path.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return unquote(urlparse(path).path)
    return path


async def stage_inputs(
    inputs: Mapping[str, Any],
    host_dir: str,
    container_dir: str,
    metadata_format: str,
    scratch: str,
    *,
    named_files: bool = False,
) -> tuple[list[Mount], dict[str, str]]:
    """Write the inputs into ``host_dir`` (mounted at ``container_dir``).

    Returns the extra mounts (``File``/``Dir`` inputs) and each input's text for the templates.
    Remote files are downloaded under ``scratch`` first. ``named_files`` (``file_input_layout=
    "NAMED_DIR"``): a ``File`` input is a directory holding the file under its own name (tools that go
    by the file's extension find it), instead of the file itself at ``<input dir>/<name>``.
    """
    os.makedirs(host_dir, exist_ok=True)
    os.chmod(host_dir, 0o755)
    mounts: list[Mount] = []
    texts: dict[str, str] = {}
    metadata: dict[str, Any] = {}
    for name, value in inputs.items():
        target = os.path.join(host_dir, name)
        if isinstance(value, (File, Dir)):
            local = await _localize(name, value, scratch)
            in_container = f"{container_dir.rstrip('/')}/{name}"
            if named_files and isinstance(value, File):
                holder = os.path.join(scratch, "named", name)
                os.makedirs(holder, exist_ok=True)
                base = safe_basename(value.name or os.path.basename(local)) or name
                shutil.copy2(local, os.path.join(holder, base))
                os.makedirs(target, exist_ok=True)
                mounts.append(Mount(os.path.abspath(holder), in_container, read_only=True))
                texts[name] = in_container
                metadata[name] = f"{in_container}/{base}"
                continue
            # The mount point must exist in the (read-only) input directory before the container starts.
            if isinstance(value, Dir):
                os.makedirs(target, exist_ok=True)
            else:
                open(target, "w").close()
            mounts.append(Mount(os.path.abspath(local), in_container, read_only=True))
            texts[name] = in_container
            metadata[name] = in_container
            continue
        text = as_text(value)
        with open(target, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(target, 0o644)
        texts[name] = text
        metadata[name] = None if value is None else _jsonable(value)
    meta_path = os.path.join(host_dir, METADATA_FORMATS[metadata_format])
    with open(meta_path, "w", encoding="utf-8") as f:
        f.write(_dump_metadata(metadata, metadata_format))
    os.chmod(meta_path, 0o644)
    return mounts, texts


def safe_basename(name: str) -> str:
    """One path component of a file's name (no directories, no '..')."""
    base = os.path.basename(name.replace("\\", "/"))
    return "" if base in ("", ".", "..") else base


def _dump_metadata(metadata: Mapping[str, Any], fmt: str) -> str:
    if fmt == "YAML":
        try:
            import yaml
        except ImportError:  # JSON is valid YAML 1.2
            return json.dumps(metadata, indent=2, sort_keys=True) + "\n"
        return str(yaml.safe_dump(dict(metadata), sort_keys=True))
    return json.dumps(metadata, indent=2, sort_keys=True) + "\n"


async def _localize(name: str, value: File[Any] | Dir[Any], scratch: str) -> str:
    """A local path for a File/Dir input (downloaded under ``scratch`` when it lives in a remote store)."""
    if _is_remote(value.path):
        dest = os.path.join(scratch, "inputs", name, value.name or name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        return await value.download(dest)
    local = _local_path(value.path)
    if isinstance(value, Dir) and not os.path.isdir(local):
        raise FileNotFoundError(f"input {name!r}: directory {local} does not exist")
    if isinstance(value, File) and not os.path.isfile(local):
        raise FileNotFoundError(f"input {name!r}: file {local} does not exist")
    return local


def prepare_outputs(host_dir: str, outputs: Mapping[str, Any]) -> None:
    """An empty output directory the container's user can write (and a directory per ``Dir`` output)."""
    os.makedirs(host_dir, exist_ok=True)
    os.chmod(host_dir, 0o777)  # the image may run as a non-root user
    for name, t in outputs.items():
        if kind(t) == "dir":
            os.makedirs(os.path.join(host_dir, name), exist_ok=True)
            os.chmod(os.path.join(host_dir, name), 0o777)


async def read_outputs(
    task: str, outputs: Mapping[str, Any], host_dir: str, container_dir: str
) -> dict[str, Any]:
    """Each declared output read from ``host_dir/<name>`` and parsed to its type."""
    values: dict[str, Any] = {}
    for name, t in outputs.items():
        values[name] = await _read_one(task, name, t, host_dir, container_dir)
    return values


async def _read_one(task: str, name: str, t: Any, host_dir: str, container_dir: str) -> Any:
    path = os.path.join(host_dir, name)
    shown = f"{container_dir.rstrip('/')}/{name}"
    k = kind(t)
    _, optional = strip_optional(t)
    if k == "dir":
        if not os.path.isdir(path):
            raise ContainerOutputError(
                f"Container task {task!r}: output {name!r} must be a directory at {shown} (host: {path})",
                task=task,
                output=name,
                path=shown,
            )
        if optional and not os.listdir(path):
            return None
        return await Dir.from_local(path)
    if not os.path.exists(path):
        if optional:
            return None
        raise ContainerOutputError(
            f"Container task {task!r}: output {name!r} is missing: the container exited 0 but did not "
            f"write the file {shown} (host: {path})",
            task=task,
            output=name,
            path=shown,
        )
    if not os.path.isfile(path):
        raise ContainerOutputError(
            f"Container task {task!r}: output {name!r} must be a file at {shown}, found a directory",
            task=task,
            output=name,
            path=shown,
        )
    if k == "file":
        return await File.from_local(path)
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    try:
        if k == "json":
            from pydantic import TypeAdapter

            return TypeAdapter(t).validate_python(json.loads(text))
        if optional and not text.strip() and k != "str":
            return None
        return parse_scalar_text(k, text)
    except ValueError as e:
        excerpt = text if len(text) <= 80 else text[:77] + "..."
        why = str(e).splitlines()[0] if k == "json" else ""
        raise ContainerOutputError(
            f"Container task {task!r}: output {name!r} must be {_type_name(t)} but the file {shown} "
            f"holds {excerpt!r}" + (f" ({why})" if why else ""),
            task=task,
            output=name,
            path=shown,
        ) from None


def _type_name(t: Any) -> str:
    return t.__name__ if isinstance(t, type) else repr(t)
