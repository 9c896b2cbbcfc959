"""The bad-input sweep table (issue 18 point 11): public constructors and decorators, and for every
parameter a value of the wrong type and, where a range applies, a value out of range.

Kept free of pytest so the same rows can be replayed against the anchor SDK
(``/work/anchor-venv/bin/python core/tests/bad_input_table.py``) to see what it does with them.
"""

from __future__ import annotations

import inspect
import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flyte
import flyte.app
import flyte.io

T = TypeError
V = ValueError

_FILES = Path(tempfile.mkdtemp(prefix="flyte-sweep-"))
(_FILES / "Dockerfile").write_text("FROM python:3.12-slim\n")
(_FILES / "requirements.txt").write_text("requests\n")
(_FILES / "pyproject.toml").write_text('[project]\nname = "sweep"\nversion = "0.1"\n')
(_FILES / "uv.lock").write_text("")
(_FILES / "poetry.lock").write_text("")
(_FILES / ".dockerignore").write_text("*.tmp\n")
(_FILES / "script.py").write_text('# /// script\n# dependencies = ["requests"]\n# ///\nprint(1)\n')
(_FILES / "src").mkdir()
(_FILES / "src" / "data.txt").write_text("x")
(_FILES / "data.csv").write_text("a,b\n1,2\n")
MISSING = str(_FILES / "no-such-file")


def _fn(x: int = 0) -> int:
    return x


_ENV = flyte.TaskEnvironment(name="sweep-env")
_TASK = _ENV.task(_fn)


@dataclass(frozen=True)
class Swept:
    """A public callable: ``signature`` lists its parameters, ``call(**kw)`` invokes it, ``base()`` gives
    valid arguments (each row replaces one of them)."""

    signature: Callable[..., Any]
    call: Callable[..., Any]
    base: Callable[[], dict[str, Any]] = dict
    skip: dict[str, str] = field(default_factory=dict)  # parameter -> why it has no row


def _img() -> Any:
    return flyte.Image.from_debian_base()


def _image_method(name: str, *pos: Any) -> Callable[..., Any]:
    return lambda **kw: getattr(_img(), name)(*pos, **kw)


def _group(**kw: Any) -> Any:
    cm = flyte.group(**kw)
    cm.__enter__()
    return cm


def _custom_context(**kw: Any) -> Any:
    cm = flyte.custom_context(**kw)
    cm.__enter__()
    return cm


def _map(func: Any = _TASK, iterables: tuple[Any, ...] = ([1],), **kw: Any) -> Any:
    return flyte.map(func, *iterables, **kw)


def _new_condition(name: Any = "approve", **kw: Any) -> Any:
    return flyte.new_condition(name, **kw)


_SCALING = flyte.app.Scaling
_SERVECONTEXT = getattr(flyte.app, "with_servecontext", None) or flyte.with_servecontext  # the anchor: flyte.

SWEPT: dict[str, Swept] = {
    "TaskEnvironment": Swept(flyte.TaskEnvironment, flyte.TaskEnvironment, lambda: {"name": "sweep-te"}),
    "env.task": Swept(
        flyte.TaskEnvironment.task,
        lambda **kw: _ENV.task(**kw)(_fn),
    ),
    "task.override": Swept(_TASK.override, _TASK.override),
    "Environment": Swept(flyte.Environment, flyte.Environment, lambda: {"name": "sweep-base"}),
    "Resources": Swept(flyte.Resources, flyte.Resources),
    "GPU": Swept(flyte.GPU, flyte.GPU, lambda: {"device": "A100", "quantity": 1}),
    "TPU": Swept(flyte.TPU, flyte.TPU, lambda: {"device": "V5P"}),
    "Device": Swept(flyte.Device, flyte.Device, lambda: {"quantity": 1}),
    "AMD_GPU": Swept(flyte.AMD_GPU, flyte.AMD_GPU, lambda: {"device": "MI300X"}),
    "HABANA_GAUDI": Swept(flyte.HABANA_GAUDI, flyte.HABANA_GAUDI, lambda: {"device": "Gaudi1"}),
    "Neuron": Swept(flyte.Neuron, flyte.Neuron, lambda: {"device": "Inf2"}),
    "Cache": Swept(flyte.Cache, flyte.Cache),
    "RetryStrategy": Swept(flyte.RetryStrategy, flyte.RetryStrategy, lambda: {"count": 2}),
    "Backoff": Swept(flyte.Backoff, flyte.Backoff),
    "ReusePolicy": Swept(flyte.ReusePolicy, flyte.ReusePolicy),
    "Timeout": Swept(flyte.Timeout, flyte.Timeout),
    "Secret": Swept(flyte.Secret, flyte.Secret, lambda: {"key": "api-key"}),
    "PodTemplate": Swept(flyte.PodTemplate, flyte.PodTemplate),
    "Trigger": Swept(flyte.Trigger, flyte.Trigger, lambda: {"name": "nightly"}),
    "Cron": Swept(flyte.Cron, flyte.Cron, lambda: {"expression": "0 2 * * *"}),
    "FixedRate": Swept(flyte.FixedRate, flyte.FixedRate, lambda: {"interval_minutes": 5}),
    "OnArtifact": Swept(
        flyte.OnArtifact,
        flyte.OnArtifact,
        lambda: {"name": "model"},
        skip={"partition_kwargs": "**kwargs: partition values (rows under 'partitions')"},
    ),
    "TriggeredPartition": Swept(
        flyte.TriggeredPartition, flyte.TriggeredPartition, lambda: {"key": "region"}
    ),
    "Documentation": Swept(flyte.Documentation, flyte.Documentation, lambda: {"description": "d"}),
    "Checkpoint": Swept(flyte.Checkpoint, flyte.Checkpoint, lambda: {"checkpoint_dest": "file:///tmp/ckpt"}),
    "ConditionWebhook": Swept(
        flyte.ConditionWebhook, flyte.ConditionWebhook, lambda: {"url": "https://hooks.example.com/x"}
    ),
    "new_condition": Swept(flyte.new_condition, _new_condition),
    "group": Swept(flyte.group, _group, lambda: {"name": "stage-1"}),
    "map": Swept(type(flyte.map).__call__, _map),
    "trace": Swept(flyte.trace, flyte.trace, lambda: {"func": _fn}),
    "init": Swept(getattr(flyte.init, "__wrapped__", flyte.init), flyte.init),
    "with_runcontext": Swept(flyte.with_runcontext, flyte.with_runcontext),
    "with_servecontext": Swept(_SERVECONTEXT, _SERVECONTEXT),
    "AppEnvironment": Swept(
        flyte.app.AppEnvironment, flyte.app.AppEnvironment, lambda: {"name": "sweep-app"}
    ),
    "Scaling": Swept(_SCALING, _SCALING),
    "Scaling.Concurrency": Swept(_SCALING.Concurrency, _SCALING.Concurrency, lambda: {"val": 4}),
    "Scaling.RequestRate": Swept(_SCALING.RequestRate, _SCALING.RequestRate, lambda: {"val": 4}),
    "Port": Swept(flyte.app.Port, flyte.app.Port, lambda: {"port": 8080}),
    "app.Link": Swept(flyte.app.Link, flyte.app.Link, lambda: {"path": "/docs", "title": "Docs"}),
    "Timeouts": Swept(flyte.app.Timeouts, flyte.app.Timeouts),
    "Domain": Swept(flyte.app.Domain, flyte.app.Domain),
    "Parameter": Swept(
        flyte.app.Parameter,
        flyte.app.Parameter,
        lambda: {"name": "model", "value": "s3://bucket/model"},
        skip={"value": "any value (a string, File, Dir, RunOutput...) is a valid parameter value"},
    ),
    "AppEndpoint": Swept(flyte.app.AppEndpoint, flyte.app.AppEndpoint, lambda: {"app_name": "api"}),
    "RunOutput": Swept(flyte.app.RunOutput, flyte.app.RunOutput, lambda: {"type": "file", "run_name": "r1"}),
    "ArtifactValue": Swept(flyte.app.ArtifactValue, flyte.app.ArtifactValue, lambda: {"name": "model"}),
    "Subdomain": Swept(flyte.app.Subdomain, flyte.app.Subdomain, lambda: {"app_name": "api"}),
    "ConnectorEnvironment": Swept(
        flyte.app.ConnectorEnvironment, flyte.app.ConnectorEnvironment, lambda: {"name": "sweep-conn"}
    ),
    "custom_context": Swept(flyte.custom_context, _custom_context),
    "init_in_cluster": Swept(flyte.init_in_cluster, flyte.init_in_cluster),
    "init_passthrough": Swept(flyte.init_passthrough, flyte.init_passthrough),
    "init_from_api_key": Swept(flyte.init_from_api_key, flyte.init_from_api_key),
    "TaskEnvironment.clone_with": Swept(
        flyte.TaskEnvironment.clone_with, _ENV.clone_with, lambda: {"name": "sweep-clone"}
    ),
    "File.from_local_sync": Swept(
        flyte.io.File.from_local_sync,
        flyte.io.File.from_local_sync,
        lambda: {"local_path": _FILES / "data.csv"},
    ),
    "Dir.from_local_sync": Swept(
        flyte.io.Dir.from_local_sync, flyte.io.Dir.from_local_sync, lambda: {"local_path": _FILES / "src"}
    ),
    "File.from_existing_remote": Swept(
        flyte.io.File.from_existing_remote,
        flyte.io.File.from_existing_remote,
        lambda: {"remote_path": "s3://bucket/data.csv"},
    ),
    "Dir.from_existing_remote": Swept(
        flyte.io.Dir.from_existing_remote,
        flyte.io.Dir.from_existing_remote,
        lambda: {"remote_path": "s3://bucket/data/"},
    ),
    "File.new_remote": Swept(flyte.io.File.new_remote, flyte.io.File.new_remote),
    "Dir.new_remote": Swept(flyte.io.Dir.new_remote, flyte.io.Dir.new_remote),
    "DataFrame": Swept(flyte.io.DataFrame, flyte.io.DataFrame, lambda: {"uri": "/tmp/df.parquet"}),
    "HashFunction": Swept(flyte.io.HashFunction, flyte.io.HashFunction, lambda: {"fn": str}),
    "File": Swept(flyte.io.File, flyte.io.File, lambda: {"path": "/tmp/data.csv"}),
    "Dir": Swept(flyte.io.Dir, flyte.io.Dir, lambda: {"path": "/tmp/data"}),
    "Image.from_debian_base": Swept(flyte.Image.from_debian_base, flyte.Image.from_debian_base),
    "Image.from_base": Swept(
        flyte.Image.from_base, flyte.Image.from_base, lambda: {"image_uri": "python:3.12-slim"}
    ),
    "Image.from_dockerfile": Swept(
        flyte.Image.from_dockerfile,
        flyte.Image.from_dockerfile,
        lambda: {"file": _FILES / "Dockerfile", "registry": "ghcr.io/org", "name": "img"},
    ),
    "Image.from_uv_script": Swept(
        flyte.Image.from_uv_script,
        flyte.Image.from_uv_script,
        lambda: {"script": _FILES / "script.py", "name": "img"},
    ),
    "Image.from_ref_name": Swept(flyte.Image.from_ref_name, flyte.Image.from_ref_name),
    "Image.clone": Swept(flyte.Image.clone, _image_method("clone")),
    "Image.with_pip_packages": Swept(
        flyte.Image.with_pip_packages,
        lambda packages=("requests",), **kw: _img().with_pip_packages(*packages, **kw),
    ),
    "Image.with_apt_packages": Swept(
        flyte.Image.with_apt_packages,
        lambda packages=("curl",), **kw: _img().with_apt_packages(*packages, **kw),
    ),
    "Image.with_requirements": Swept(
        flyte.Image.with_requirements,
        _image_method("with_requirements"),
        lambda: {"file": _FILES / "requirements.txt"},
    ),
    "Image.with_env_vars": Swept(
        flyte.Image.with_env_vars, _image_method("with_env_vars"), lambda: {"env_vars": {"A": "1"}}
    ),
    "Image.with_source_file": Swept(
        flyte.Image.with_source_file, _image_method("with_source_file"), lambda: {"src": _FILES / "script.py"}
    ),
    "Image.with_source_folder": Swept(
        flyte.Image.with_source_folder, _image_method("with_source_folder"), lambda: {"src": _FILES / "src"}
    ),
    "Image.with_commands": Swept(
        flyte.Image.with_commands, _image_method("with_commands"), lambda: {"commands": ["echo hi"]}
    ),
    "Image.with_workdir": Swept(
        flyte.Image.with_workdir, _image_method("with_workdir"), lambda: {"workdir": "/app"}
    ),
    "Image.with_uv_project": Swept(
        flyte.Image.with_uv_project,
        _image_method("with_uv_project"),
        lambda: {"pyproject_file": _FILES / "pyproject.toml"},
    ),
    "Image.with_poetry_project": Swept(
        flyte.Image.with_poetry_project,
        _image_method("with_poetry_project"),
        lambda: {"pyproject_file": _FILES / "pyproject.toml"},
    ),
    "Image.with_dockerignore": Swept(
        flyte.Image.with_dockerignore,
        _image_method("with_dockerignore"),
        lambda: {"path": _FILES / ".dockerignore"},
    ),
    "Image.with_code_bundle": Swept(flyte.Image.with_code_bundle, _image_method("with_code_bundle")),
    "Image.with_local_v2_plugins": Swept(
        flyte.Image.with_local_v2_plugins, _image_method("with_local_v2_plugins")
    ),
}


_RESULT = "a result the SDK hands back, not built by users"
_ACTION = "runs, builds, deploys or serves (an action on definitions, not a definition)"
_NO_PARAMS = "takes no parameters"
_PROTOCOL = "a Protocol: users implement it, nothing to construct"
_LOOKUP = "reads something that exists (a file, a context, an app), not a definition"

NOT_SWEPT: dict[str, str] = {
    "flyte.APPLE_SILICON": _NO_PARAMS,
    "flyte.AppHandle": _PROTOCOL,
    "flyte.CachePolicy": _PROTOCOL,
    "flyte.Link": _PROTOCOL,
    "flyte.io.HashMethod": _PROTOCOL,
    "flyte.BaseCheckpoint": "an abstract base class (flyte.Checkpoint is swept)",
    "flyte.AsyncFunctionTaskTemplate": "built by @env.task and plugins (swept as env.task / task.override)",
    "flyte.TaskTemplate": "built by @env.task and plugins (swept as env.task / task.override)",
    "flyte.Image": "refuses direct construction; each builder (Image.from_* / with_* / clone) is swept",
    "flyte.ImageBuild": _RESULT,
    "flyte.Run": _RESULT,
    "flyte.app.AppContext": _RESULT,
    "flyte.app.DeployedAppEnvironment": _RESULT,
    "flyte.app.LocalApp": _RESULT,
    "flyte.app.ServeContext": "made by with_servecontext (swept)",
    "flyte.io.EmptyDir": "Dir.empty()'s marker; its fields are Dir's (swept)",
    "flyte.io.HashlibAccumulator": "wraps a hashlib object for File.from_local(hash_method=...)",
    "flyte.build": _ACTION,
    "flyte.build_images": _ACTION,
    "flyte.deploy": _ACTION,
    "flyte.run": _ACTION,
    "flyte.rerun": _ACTION,
    "flyte.serve": _ACTION,
    "flyte.app.serve": _ACTION,
    "flyte.run_python_script": _ACTION,
    "flyte.init_from_config": "reads flyte.toml and calls flyte.init (swept) with its keywords",
    "flyte.ctx": _NO_PARAMS,
    "flyte.app.ctx": _NO_PARAMS,
    "flyte.current_domain": _NO_PARAMS,
    "flyte.current_project": _NO_PARAMS,
    "flyte.get_custom_context": _NO_PARAMS,
    "flyte.is_control_plane_available": _NO_PARAMS,
    "flyte.version": _NO_PARAMS,
    "flyte.app.apps": _NO_PARAMS,
    "flyte.app.list_apps": _LOOKUP,
    "flyte.app.get_endpoint": _LOOKUP,
    "flyte.app.get_parameter": _LOOKUP,
    "flyte.latest_checkpoint": _LOOKUP,
    "flyte.load_interactive_ctx": _LOOKUP,
    "flyte.load_plugin_config": _LOOKUP,
}
"""Public callables of flyte, flyte.app and flyte.io left out of the sweep, each with the reason."""


def public_callables() -> dict[str, Any]:
    """Every class and function that ``flyte``, ``flyte.app`` and ``flyte.io`` export (errors and type
    aliases left out)."""
    import typing

    out: dict[str, Any] = {}
    for mod in (flyte, flyte.app, flyte.io):
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.ismodule(obj) or not callable(obj) or typing.get_origin(obj) is not None:
                continue
            if isinstance(obj, type) and issubclass(obj, BaseException):
                continue
            out[f"{mod.__name__}.{name}"] = obj
    return out


def swept_key_of(obj: Any) -> str | None:
    """The SWEPT entry that covers a public callable, if any."""
    for key, s in SWEPT.items():
        targets = (s.signature, s.call)
        if obj in targets or getattr(obj, "__wrapped__", None) in targets or type(obj).__call__ in targets:
            return key
    return None


@dataclass(frozen=True)
class Row:
    callable: str
    param: str
    value: Any
    exc: type[BaseException]
    phrase: str = ""  # what the message must contain; default: the parameter's name

    @property
    def id(self) -> str:
        return f"{self.callable}-{self.param}-{type(self.value).__name__}-{self.exc.__name__}"


def _rows(callable_: str, table: dict[str, list[tuple[Any, ...]]]) -> list[Row]:
    out = []
    for param, cases in table.items():
        for case in cases:
            value, exc, *phrase = case
            out.append(Row(callable_, param, value, exc, *(phrase or [param])))
    return out


_CRON = flyte.Cron("0 * * * *")
_TRIGGER_BAD_INPUT = flyte.Trigger("t", _CRON, inputs={"no_such_input": 1})

# Settings every environment shares (Environment, TaskEnvironment, AppEnvironment).
_ENV_COMMON: dict[str, list[tuple[Any, ...]]] = {
    "depends_on": [("sweep-other", T), ([123], T)],
    "pod_template": [(123, T), ("", V)],
    "description": [(123, T)],
    "secrets": [(123, T), ("", V)],
    "env_vars": [(["A=1"], T), ({"A": 1}, T)],
    "resources": [("2 cpus", T)],
    "interruptible": [("yes", T)],
    "image": [(123, T), ("not a valid ref", V)],
    "include": [("config.yaml", T), (("",), V)],
    "service_account": [(123, T), ("", V)],
}
_STR_MAP = [(["team=ml"], T), ({"team": 1}, T)]

ROWS: list[Row] = [
    *_rows(
        "TaskEnvironment",
        {
            "name": [(123, T), ("Not Valid!", V)],
            **_ENV_COMMON,
            "include": [("config.yaml", T), ((MISSING,), V)],
            "cache": [(123, T), ("sometimes", V)],
            "reusable": [(2, T)],
            "plugin_config": [(object(), T, "plugin_config")],
            "queue": [(123, T), ("", V)],
            "isolation": [(123, T), ("vm", V)],
        },
    ),
    *_rows(
        "env.task",
        {
            "short_name": [(5, T)],
            "cache": [(123, T), ("sometimes", V)],
            "retries": [("3", T), (-1, V)],
            "timeout": [("soon", T), (-5, V)],
            "docs": [(123, T)],
            "max_inline_io_bytes": [("1MB", T), (-1, V)],
            "resources": [("2 cpus", T)],
            "secrets": [(123, T), ("", V)],
            "pod_template": [(123, T), ("", V)],
            "report": [("yes", T)],
            "triggers": [(123, T), (_TRIGGER_BAD_INPUT, V)],
            "links": [(123, T)],
            "interruptible": [("yes", T)],
            "queue": [(123, T), ("", V)],
            "service_account": [(123, T), ("", V)],
        },
    ),
    *_rows(
        "task.override",
        {
            "short_name": [(5, T)],
            "resources": [("2 cpus", T)],
            "cache": [(123, T), ("sometimes", V)],
            "retries": [("3", T), (-1, V)],
            "timeout": [("soon", T), (-5, V)],
            "env_vars": _STR_MAP,
            "secrets": [(123, T), ("", V)],
            "max_inline_io_bytes": [("1MB", T), (-1, V)],
            "reusable": [(2, T), ("on", V)],
            "plugin_config": [(object(), T, "plugin_config")],
            "pod_template": [(123, T), ("", V)],
            "docs": [(123, T)],
            "interruptible": [("yes", T)],
            "queue": [(123, T), ("", V)],
            "service_account": [(123, T), ("", V)],
            "refused": [(1, T, "refused")],  # **refused: any keyword that is not a task setting
        },
    ),
    *_rows("Environment", {"name": [(123, T), ("", V)], **_ENV_COMMON}),
    *_rows(
        "Resources",
        {
            "cpu": [([1], T), (-1, V)],
            "memory": [([1], T), ("4 gigs", V)],
            "gpu": [(1.5, T), (-1, V)],
            "disk": [([1], T), ("-1Gi", V)],
            "shm": [([1], T), ("lots", V)],
        },
    ),
    *_rows(
        "GPU",
        {
            "device": [(123, T), ("Z9000", V)],
            "quantity": [("1", T), (16, V)],
            "partition": [(123, T), ("", V)],
        },
    ),
    *_rows("TPU", {"device": [(123, T), ("V9", V)], "partition": [(123, T), ("", V)]}),
    *_rows(
        "Device",
        {
            "quantity": [("1", T), (0, V)],
            "device_class": [(123, T), ("QPU", V)],
            "device": [(123, T), ("", V)],
            "partition": [(123, T), ("", V)],
        },
    ),
    *_rows("AMD_GPU", {"device": [(123, T), ("MI1", V)]}),
    *_rows("HABANA_GAUDI", {"device": [(123, T), ("Gaudi9", V)]}),
    *_rows("Neuron", {"device": [(123, T), ("Inf9", V)]}),
    *_rows(
        "Cache",
        {
            "behavior": [(123, T), ("sometimes", V)],
            "version_override": [(123, T), ("", V)],
            "serialize": [("yes", T)],
            "ignored_inputs": [(123, T), (("",), V)],
            "salt": [(123, T)],
            "policies": [(123, T)],
            "max_age": [("1d", T), (-1, V)],
        },
    ),
    *_rows("RetryStrategy", {"count": [("3", T), (-1, V)], "backoff": [("fast", T)]}),
    *_rows(
        "Backoff",
        {
            "base": [("1s", T), (-1, V)],
            "factor": [("2", T), (0, V)],
            "cap": [("1m", T), (-1, V)],
        },
    ),
    *_rows(
        "ReusePolicy",
        {
            "replicas": [("2", T), (0, V)],
            "idle_ttl": [("30s", T), (-1, V)],
            "concurrency": [("1", T), (0, V)],
            "scaledown_ttl": [("30s", T), (-1, V)],
            "scope": [(123, T), ("forever", V)],
        },
    ),
    *_rows(
        "Timeout",
        {
            "max_runtime": [("soon", T), (-1, V)],
            "max_queued_time": [("soon", T), (-1, V)],
            "deadline": [("soon", T), (-1, V)],
        },
    ),
    *_rows(
        "Secret",
        {
            "key": [(123, T), ("", V)],
            "group": [(123, T), ("", V)],
            "mount": [(123, T), ("relative/dir", V)],
            "as_env_var": [(123, T), ("NOT-A-VAR", V)],
        },
    ),
    *_rows(
        "PodTemplate",
        {
            "pod_spec": [(123, T)],
            "primary_container_name": [(123, T), ("Not_Valid", V)],
            "labels": _STR_MAP,
            "annotations": _STR_MAP,
        },
    ),
    *_rows(
        "Trigger",
        {
            "name": [(123, T), ("", V)],
            "automation": [("0 * * * *", T)],
            "description": [(123, T), ("x" * 300, V)],
            "auto_activate": [("yes", T)],
            "inputs": [(["x"], T)],
            "env_vars": _STR_MAP,
            "interruptible": [("yes", T)],
            "overwrite_cache": [("yes", T)],
            "queue": [(123, T), ("", V)],
            "max_action_concurrency": [("2", T), (1, V)],
            "labels": _STR_MAP,
            "annotations": _STR_MAP,
            "notifications": [("email me", T)],
            "custom_context": _STR_MAP,
        },
    ),
    *_rows(
        "Cron",
        {"expression": [(123, T), ("* * *", V)], "timezone": [(123, T), ("Mars/Olympus_Mons", V)]},
    ),
    *_rows(
        "FixedRate",
        {"interval_minutes": [("5", T), (0, V)], "start_time": [("2024-01-01", T)]},
    ),
    *_rows(
        "OnArtifact",
        {
            "name": [(123, T), ("", V)],
            "version": [(123, T), ("", V)],
            "partitions": _STR_MAP,
        },
    ),
    *_rows("TriggeredPartition", {"key": [(123, T), ("", V)]}),
    *_rows("Documentation", {"description": [(123, T)]}),
    *_rows("Checkpoint", {"checkpoint_dest": [(123, T), ("", V)], "checkpoint_src": [(123, T)]}),
    *_rows("ConditionWebhook", {"url": [(123, T), ("ftp://example.com", V)], "payload": [("{}", T)]}),
    *_rows(
        "new_condition",
        {
            "name": [(123, T), ("a/b", V)],
            "prompt": [(123, T)],
            "prompt_type": [(123, T), ("html", V)],
            "data_type": [("bool", T), (list, V)],
            "description": [(123, T)],
            "timeout": [("5", T), (-1, V)],
            "webhook": [("https://hooks.example.com", T)],
        },
    ),
    *_rows("group", {"name": [(123, T), ("", V)]}),
    *_rows(
        "map",
        {
            "func": [(123, T)],
            "iterables": [((5,), T)],
            "group_name": [(123, T), ("", V)],
            "concurrency": [("2", T), (-1, V)],
            "return_exceptions": [("yes", T)],
        },
    ),
    *_rows("trace", {"func": [(123, T)]}),
    *_rows(
        "init",
        {
            "org": [(123, T), ("", V)],
            "project": [(123, T), ("", V)],
            "domain": [(123, T), ("", V)],
            "root_dir": [(123, T), (MISSING, V)],
            "log_level": [("DEBUG", T), (-1, V)],
            "log_format": [(123, T), ("xml", V)],
            "reset_root_logger": [("yes", T)],
            "user_log_level": [("DEBUG", T), (-1, V)],
            "endpoint": [(123, T), ("", V)],
            "headless": [("yes", T)],
            "insecure": [("yes", T)],
            "insecure_skip_verify": [("yes", T)],
            "ca_cert_file_path": [(123, T), ("", V)],
            "auth_type": [(123, T), ("Basic", V)],
            "command": [("login", T)],
            "proxy_command": [("proxy", T)],
            "api_key": [(123, T), ("", V)],
            "client_id": [(123, T), ("", V)],
            "client_credentials_secret": [(123, T), ("", V)],
            "auth_client_config": [("config", T)],
            "rpc_retries": [("3", T), (-1, V)],
            "http_proxy_url": [(123, T), ("", V)],
            "disable_keyring": [("yes", T)],
            "storage": [("s3", T)],
            "batch_size": [("1000", T), (0, V)],
            "image_builder": [(123, T), ("kaniko", V)],
            "images": [(["default=python:3.12"], T), ({"default": 3}, T)],
            "image_registry": [(123, T), ("", V)],
            "source_config_path": [(123, T), ("", V)],
            "sync_local_sys_paths": [("yes", T)],
            "load_plugin_type_transformers": [("yes", T)],
            "local_persistence": [("yes", T)],
            "local_tracked": [("yes", T)],
            "local_tracked_strict": [("yes", T)],
            "scopes": [("all", T)],
            "raw_data_path": [(123, T), ("", V)],
            "executor": [(123, T), ("", V)],
            "pickle_key": [(123, T), ("", V)],
            "home": [(123, T), ("", V)],
            "journal": [(123, T), ("mysql://h/db", V)],
        },
    ),
    *_rows(
        "with_runcontext",
        {
            "mode": [(123, T), ("hybrid", flyte.errors.InitializationError, "mode")],
            "name": [(123, T), ("", V)],
            "service_account": [(123, T), ("", V)],
            "version": [(123, T), ("", V)],
            "copy_style": [(123, T), ("everything", V)],
            "dry_run": [("yes", T)],
            "copy_bundle_to": [(123, T), ("", V)],
            "interactive_mode": [("yes", T)],
            "raw_data_path": [(123, T), ("", V)],
            "run_base_dir": [(123, T), ("", V)],
            "run_start_time": [([2024], T)],
            "overwrite_cache": [("yes", T)],
            "project": [(123, T), ("", V)],
            "domain": [(123, T), ("", V)],
            "env_vars": _STR_MAP,
            "labels": _STR_MAP,
            "annotations": _STR_MAP,
            "interruptible": [("yes", T)],
            "log_level": [("DEBUG", T), (-1, V)],
            "log_format": [(123, T), ("xml", V)],
            "user_log_level": [("DEBUG", T), (-1, V)],
            "reset_root_logger": [("yes", T)],
            "disable_run_cache": [("yes", T)],
            "queue": [(123, T), ("", V)],
            "max_action_concurrency": [("2", T), (-1, V)],
            "notifications": [("email me", T)],
            "custom_context": _STR_MAP,
            "cache_lookup_scope": [(123, T), ("everywhere", V)],
            "preserve_original_types": [("yes", T)],
            "debug": [("yes", T)],
            "tracked": [("yes", T)],
            "tracked_strict": [("yes", T)],
            "isolation": [(123, T), ("vm", V)],
            "max_cpus": [("4", T), (0, V)],
        },
    ),
    *_rows(
        "with_servecontext",
        {
            "mode": [(123, T), ("cloud", V)],
            "env_vars": _STR_MAP,
            "host": [(123, T), ("", V)],
            "port": [("8080", T), (70000, V)],
            "health_check_path": [(123, T), ("health", V)],
            "health_check_interval": [("1", T), (0, V)],
            "health_check_timeout": [("1", T), (-1, V)],
            "activate_timeout": [("60", T), (0, V)],
            "deactivate_timeout": [("6", T), (-1, V)],
            "log_level": [([10], T), ("LOUD", V)],
            "raw_data_path": [(123, T), ("", V)],
        },
    ),
    *_rows(
        "AppEnvironment",
        {
            "name": [(123, T), ("Not Valid!", V)],
            **_ENV_COMMON,
            "depends_on": [("sweep-other", T), ([123], T)],
            "type": [(123, T), ("", V)],
            "port": [("8080", T), (70000, V)],
            "args": [(123, T), ("", V)],
            "command": [(123, T), ("", V)],
            "requires_auth": [("yes", T)],
            "scaling": [("auto", T)],
            "domain": [("example.com", T)],
            "links": [("https://example.com", T)],
            "parameters": [("model", T)],
            "cluster_pool": [(123, T), ("", V)],
            "cluster": [(123, T), ("", V)],
            "timeouts": [(30, T)],
        },
    ),
    *_rows(
        "Scaling",
        {
            "replicas": [("2", T), ((3, 1), V)],
            "metric": [("cpu", T)],
            "scaledown_after": [("5m", T), (-1, V)],
        },
    ),
    *_rows("Scaling.Concurrency", {"val": [("4", T), (0, V)]}),
    *_rows("Scaling.RequestRate", {"val": [("4", T), (0, V)]}),
    *_rows("Port", {"port": [("8080", T), (70000, V)], "name": [(123, T), ("", V)]}),
    *_rows(
        "app.Link",
        {"path": [(123, T), ("", V)], "title": [(123, T), ("", V)], "is_relative": [("yes", T)]},
    ),
    *_rows("Timeouts", {"request": [("30", T), (-1, V)]}),
    *_rows("Domain", {"subdomain": [(123, T), ("", V)], "custom_domain": [(123, T), ("", V)]}),
    *_rows(
        "Parameter",
        {
            "name": [(123, T), ("", V)],
            "type": [(123, T), ("blob", V)],
            "env_var": [(123, T), ("1-BAD", V)],
            "download": [("yes", T)],
            "mount": [(123, T), ("relative/dir", V)],
            "ignore_patterns": [("*.tmp", T)],
        },
    ),
    *_rows(
        "AppEndpoint",
        {"type": [(123, T), ("url", V)], "app_name": [(123, T), ("", V)], "public": [("yes", T)]},
    ),
    *_rows(
        "RunOutput",
        {
            "type": [(123, T), ("blob", V)],
            "run_name": [(123, T), ("", V)],
            "task_name": [(123, T), ("", V)],
            "task_version": [(123, T), ("", V)],
            "task_auto_version": [(123, T), ("newest", V)],
            "getter": [("0", T), ((), V)],
        },
    ),
    *_rows(
        "ArtifactValue",
        {
            "type": [(123, T), ("blob", V)],
            "name": [(123, T), ("", V)],
            "version": [(123, T), ("", V)],
            "project": [(123, T), ("", V)],
            "domain": [(123, T), ("", V)],
        },
    ),
    *_rows(
        "Subdomain",
        {
            "app_name": [(123, T), ("Not Valid!", V)],
            "project_domain_suffix": [(123, T), ("random", V)],
            "function": [("name", T)],
        },
    ),
    *_rows(
        "ConnectorEnvironment",
        {
            "name": [(123, T), ("Not Valid!", V)],
            **_ENV_COMMON,
            "type": [(123, T), ("", V)],
            "port": [("8080", T), (70000, V)],
            "args": [(123, T), ("", V)],
            "command": [(123, T), ("", V)],
            "requires_auth": [("yes", T)],
            "scaling": [("auto", T)],
            "domain": [("example.com", T)],
            "links": [("https://example.com", T)],
            "parameters": [("model", T)],
            "cluster_pool": [(123, T), ("", V)],
            "cluster": [(123, T), ("", V)],
            "timeouts": [(30, T)],
        },
    ),
    *_rows("custom_context", {"context": [(123, T, "context")]}),
    *_rows(
        "init_in_cluster",
        {
            "org": [(123, T), ("", V)],
            "project": [(123, T), ("", V)],
            "domain": [(123, T), ("", V)],
            "api_key": [(123, T), ("", V)],
            "endpoint": [(123, T), ("", V)],
            "insecure": [("yes", T)],
        },
    ),
    *_rows(
        "init_passthrough",
        {
            "endpoint": [(123, T), ("", V)],
            "org": [(123, T), ("", V)],
            "project": [(123, T), ("", V)],
            "domain": [(123, T), ("", V)],
            "insecure": [("yes", T)],
        },
    ),
    *_rows(
        "init_from_api_key",
        {
            "api_key": [(123, T), ("", V)],
            "project": [(123, T), ("", V)],
            "domain": [(123, T), ("", V)],
            "root_dir": [(123, T), (MISSING, V)],
            "log_level": [("DEBUG", T), (-1, V)],
            "log_format": [(123, T), ("xml", V)],
            "storage": [("s3", T)],
            "batch_size": [("1000", T), (0, V)],
            "image_builder": [(123, T), ("kaniko", V)],
            "images": [(["default=python:3.12"], T), ({"default": 3}, T)],
            "sync_local_sys_paths": [("yes", T)],
            "insecure_skip_verify": [("yes", T)],
            "ca_cert_file_path": [(123, T), ("", V)],
        },
    ),
    *_rows(
        "DataFrame",
        {"uri": [(123, T), ("", V)], "format": [(123, T)], "hash": [(123, T), ("", V)]},
    ),
    *_rows("HashFunction", {"fn": [("sha256", T)]}),
    *_rows(
        "TaskEnvironment.clone_with",
        {
            "name": [(123, T), ("Not Valid!", V)],
            "image": [(123, T), ("not a valid ref", V)],
            "resources": [("2 cpus", T)],
            "env_vars": _STR_MAP,
            "secrets": [(123, T), ("", V)],
            "depends_on": [("sweep-other", T)],
            "description": [(123, T)],
            "interruptible": [("yes", T)],
            "include": [("config.yaml", T), ((MISSING,), V)],
            "service_account": [(123, T), ("", V)],
            "overrides": [(1, T, "overrides")],  # **overrides: a keyword that is not a setting
        },
    ),
    *_rows(
        "File.from_local_sync",
        {
            "local_path": [(123, T), (MISSING, FileNotFoundError, "local_path")],
            "remote_destination": [(123, T), ("", V)],
            "hash_method": [(123, T), ("", V)],
            "chunk_size": [("1MB", T), (0, V)],
            "max_concurrency": [("4", T), (0, V)],
        },
    ),
    *_rows(
        "Dir.from_local_sync",
        {
            "local_path": [(123, T), (MISSING, FileNotFoundError, "local_path")],
            "remote_destination": [(123, T), ("", V)],
            "dir_cache_key": [(123, T), ("", V)],
            "batch_size": [("10", T), (0, V)],
            "chunk_size": [("1MB", T), (0, V)],
            "max_concurrency": [("4", T), (0, V)],
        },
    ),
    *_rows(
        "File.from_existing_remote",
        {"remote_path": [(123, T), ("", V)], "file_cache_key": [(123, T), ("", V)]},
    ),
    *_rows(
        "Dir.from_existing_remote",
        {"remote_path": [(123, T), ("", V)], "dir_cache_key": [(123, T), ("", V)]},
    ),
    *_rows(
        "File.new_remote", {"file_name": [(123, T), ("../escape", V)], "hash_method": [(123, T), ("", V)]}
    ),
    *_rows("Dir.new_remote", {"dir_name": [(123, T), ("../escape", V)], "hash": [(123, T), ("", V)]}),
    *[
        r
        for io in ("File", "Dir")
        for r in _rows(
            io,
            {
                "path": [(123, T), ("", V)],
                "name": [(123, T)],
                "format": [(123, T)],
                "hash": [(123, T), ("", V)],
            },
        )
    ],
    *_rows(
        "Image.from_debian_base",
        {
            "python_version": [(3.12, T), ((2, 7), V)],
            "flyte_version": [(123, T), ("", V)],
            "install_flyte": [("yes", T)],
            "registry": [(123, T), ("", V)],
            "registry_secret": [(123, T), ("", V)],
            "name": [(123, T), ("Bad Name", V)],
            "platform": [(123, T), ("linux/sparc", V)],
        },
    ),
    *_rows("Image.from_base", {"image_uri": [(123, T), ("not a valid ref", V)]}),
    *_rows(
        "Image.from_dockerfile",
        {
            "file": [(123, T), ("", V)],
            "registry": [(123, T), ("", V)],
            "name": [(123, T), ("", V)],
            "platform": [(123, T), ("linux/sparc", V)],
        },
    ),
    *_rows(
        "Image.from_uv_script",
        {
            "script": [(123, T), ("", V)],
            "name": [(123, T), ("", V)],
            "registry": [(123, T), ("", V)],
            "registry_secret": [(123, T), ("", V)],
            "python_version": [(3.12, T), ((2, 7), V)],
            "index_url": [(123, T), ("", V)],
            "extra_index_urls": [(123, T), (("",), V)],
            "pre": [("yes", T)],
            "extra_args": [(123, T)],
            "platform": [(123, T), ("linux/sparc", V)],
            "secret_mounts": [(123, T), ("", V)],
        },
    ),
    *_rows("Image.from_ref_name", {"name": [(123, T), ("", V)]}),
    *_rows(
        "Image.clone",
        {
            "registry": [(123, T), ("", V)],
            "registry_secret": [(123, T), ("", V)],
            "name": [(123, T), ("Bad Name", V)],
            "base_image": [(123, T), ("not a valid ref", V)],
            "python_version": [(3.12, T), ((2, 7), V)],
            "addl_layer": [("layer", T)],
            "platform": [(123, T), ("linux/sparc", V)],
        },
    ),
    *_rows(
        "Image.with_pip_packages",
        {
            "packages": [((123,), T), (("",), V)],
            "index_url": [(123, T), ("", V)],
            "extra_index_urls": [(123, T), (("",), V)],
            "pre": [("yes", T)],
            "extra_args": [(123, T)],
            "secret_mounts": [(123, T), ("", V)],
        },
    ),
    *_rows(
        "Image.with_apt_packages",
        {"packages": [((123,), T), (("",), V)], "secret_mounts": [(123, T), ("", V)]},
    ),
    *_rows(
        "Image.with_requirements",
        {
            "file": [(123, T), (MISSING, V)],
            "index_url": [(123, T), ("", V)],
            "extra_index_urls": [(123, T), (("",), V)],
            "pre": [("yes", T)],
            "extra_args": [(123, T)],
            "secret_mounts": [(123, T), ("", V)],
        },
    ),
    *_rows("Image.with_env_vars", {"env_vars": _STR_MAP}),
    *_rows("Image.with_source_file", {"src": [(123, T), ("", V)], "dst": [(123, T), ("", V)]}),
    *_rows(
        "Image.with_source_folder",
        {
            "src": [(123, T), ("", V)],
            "dst": [(123, T), ("", V)],
            "copy_contents_only": [("yes", T)],
        },
    ),
    *_rows(
        "Image.with_commands",
        {"commands": [(123, T), ([""], V)], "secret_mounts": [(123, T), ("", V)]},
    ),
    *_rows("Image.with_workdir", {"workdir": [(123, T), ("", V)]}),
    *_rows(
        "Image.with_uv_project",
        {
            "pyproject_file": [(123, T), ("", V)],
            "uvlock": [(123, T), ("", V)],
            "index_url": [(123, T), ("", V)],
            "extra_index_urls": [(123, T), (("",), V)],
            "pre": [("yes", T)],
            "extra_args": [(123, T)],
            "secret_mounts": [(123, T), ("", V)],
            "project_install_mode": [(123, T), ("everything", V)],
        },
    ),
    *_rows(
        "Image.with_poetry_project",
        {
            "pyproject_file": [(123, T), ("", V)],
            "poetry_lock": [(123, T), ("", V)],
            "extra_args": [(123, T)],
            "secret_mounts": [(123, T), ("", V)],
            "project_install_mode": [(123, T), ("everything", V)],
        },
    ),
    *_rows("Image.with_dockerignore", {"path": [(123, T), ("", V)]}),
    *_rows(
        "Image.with_code_bundle", {"copy_style": [(123, T), ("everything", V)], "dst": [(123, T), ("", V)]}
    ),
    *_rows("Image.with_local_v2_plugins", {"plugins": [(123, T), (("",), V)]}),
]


def swept_parameters(key: str) -> list[str]:
    """Every public parameter of a swept callable (``self``/``cls`` and ``_private`` ones left out)."""
    params = inspect.signature(SWEPT[key].signature).parameters.values()
    return [p.name for p in params if p.name not in ("self", "cls") and not p.name.startswith("_")]


def run_row(row: Row) -> BaseException | None:
    """Call the row's callable with its bad value; the exception raised, or None when accepted."""
    swept = SWEPT[row.callable]
    kwargs = swept.base()
    kwargs[row.param] = row.value
    try:
        swept.call(**kwargs)
    except Exception as e:
        return e
    return None


_NOT_A_REFUSAL = (
    "unexpected keyword",  # a parameter the other SDK lacks
    "required positional argument",  # one it requires where ours has a default
    "not supported between",  # an accident of its implementation
)
_ANCHOR_HEADER = '''"""What the anchor SDK (flyte 2.12.1) raises for the bad-input rows (issue 18 point 11).

Recorded with ``/work/anchor-venv/bin/python core/tests/bad_input_table.py --record PATH``: row id ->
the builtin class of the error it raised (pydantic's ValidationError counted as ValueError). Rows it
accepts, and errors that only come from a different signature (a keyword it lacks, a required argument ours
defaults) or from an accident (AttributeError...), are left out, and so is
``with_runcontext(mode='hybrid')``: a mode the anchor has (its ValueError asks for a run name). Where the
anchor refuses a value, ours must raise an instance of the same class, so code catching its error
catches ours.
"""

from __future__ import annotations

'''


def _replay() -> list[tuple[Row, BaseException | None]]:
    results = []
    for row in ROWS:
        try:
            err = run_row(row)
        except BaseException as e:  # a crash is a result too
            err = e
        results.append((row, err))
    return results


def _record(results: list[tuple[Row, BaseException | None]]) -> str:
    raises: dict[str, str] = {}
    for row, err in results:
        if err is None or any(x in str(err) for x in _NOT_A_REFUSAL):
            continue
        if row.callable == "with_runcontext" and row.param == "mode":
            continue
        for base in (TypeError, ValueError):
            if isinstance(err, base):
                raises[row.id] = base.__name__
                break
    accepted = sum(1 for _, err in results if err is None)
    lines = [_ANCHOR_HEADER + f"ANCHOR_ACCEPTED_ROWS = {accepted}"]
    lines.append('"""How many of the rows the anchor accepts silently (ours refuses all of them)."""\n')
    lines.append("ANCHOR_RAISES: dict[str, str] = {")
    lines += [f"    {json.dumps(k)}: {json.dumps(v)}," for k, v in sorted(raises.items())]
    lines.append("}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # replay against any installed flyte (e.g. the anchor)
    replayed = _replay()
    if "--record" in sys.argv:  # --record PATH: write the module (the anchor logs to stdout)
        Path(sys.argv[sys.argv.index("--record") + 1]).write_text(_record(replayed))
    else:
        for row, err in replayed:
            what = "ACCEPTS" if err is None else f"raises {type(err).__module__}.{type(err).__qualname__}"
            note = "" if err is None else " ".join(str(err).split())[:100]
            print(f"{row.callable}\t{row.param}\t{row.value!r:.40}\t{what}\t{note}")
    accepted = sum(1 for _, err in replayed if err is None)
    print(f"{len(ROWS)} rows; accepted {accepted}", file=sys.stderr)
