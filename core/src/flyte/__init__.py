"""Flyte 2-style SDK: tasks in plain Python, run durably on this machine by default.

Names are loaded on first use so that ``import flyte`` stays light (no pydantic, no plugin scan).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY: dict[str, tuple[str, str | None]] = {
    "TaskEnvironment": ("flyte._environment", "TaskEnvironment"),
    "Resources": ("flyte._resources", "Resources"),
    "GPU": ("flyte._resources", "GPU"),
    "TPU": ("flyte._resources", "TPU"),
    "Device": ("flyte._resources", "Device"),
    "DeviceClass": ("flyte._resources", "DeviceClass"),
    "AMD_GPU": ("flyte._resources", "AMD_GPU"),
    "Neuron": ("flyte._resources", "Neuron"),
    "HABANA_GAUDI": ("flyte._resources", "HABANA_GAUDI"),
    "APPLE_SILICON": ("flyte._resources", "APPLE_SILICON"),
    "CacheRequest": ("flyte._cache", "CacheRequest"),
    "TimeoutType": ("flyte._timeout", "TimeoutType"),
    "SecretRequest": ("flyte._secret", "SecretRequest"),
    "ReusePolicy": ("flyte._reusable", "ReusePolicy"),
    "Cache": ("flyte._cache", "Cache"),
    "CachePolicy": ("flyte._cache", "CachePolicy"),
    "RetryStrategy": ("flyte._retry", "RetryStrategy"),
    "Backoff": ("flyte._retry", "Backoff"),
    "Timeout": ("flyte._timeout", "Timeout"),
    "Secret": ("flyte._secret", "Secret"),
    "Image": ("flyte._image", "Image"),
    "PodTemplate": ("flyte._pod", "PodTemplate"),
    "TaskTemplate": ("flyte._task", "TaskTemplate"),
    "AsyncFunctionTaskTemplate": ("flyte._task", "AsyncFunctionTaskTemplate"),
    "run": ("flyte._run", "run"),
    "with_runcontext": ("flyte._run", "with_runcontext"),
    "rerun": ("flyte._run", "rerun"),
    "init": ("flyte._run", "init"),
    "init_from_config": ("flyte._run", "init_from_config"),
    "Run": ("flyte._run", "Run"),
    "trace": ("flyte._trace", "trace"),
    "map": ("flyte._map", "map"),
    "group": ("flyte._group", "group"),
    "custom_context": ("flyte._group", "custom_context"),
    "get_custom_context": ("flyte._group", "get_custom_context"),
    "ctx": ("flyte._context", "ctx"),
    "errors": ("flyte.errors", None),
    "io": ("flyte.io", None),
    "report": ("flyte.report", None),
    "durable": ("flyte.durable", None),
    "extend": ("flyte.extend", None),
    "app": ("flyte.app", None),
    "serve": ("flyte.app._serve", "serve"),
    "with_servecontext": ("flyte.app._serve", "with_servecontext"),
    "Environment": ("flyte._environment_base", "Environment"),
    "BaseCheckpoint": ("flyte._checkpoint", "BaseCheckpoint"),
    "Checkpoint": ("flyte._checkpoint", "Checkpoint"),
    "latest_checkpoint": ("flyte._checkpoint", "latest_checkpoint"),
    "ConditionWebhook": ("flyte._condition", "ConditionWebhook"),
    "new_condition": ("flyte._condition", "new_condition"),
    "Cron": ("flyte._trigger", "Cron"),
    "FixedRate": ("flyte._trigger", "FixedRate"),
    "Trigger": ("flyte._trigger", "Trigger"),
    "TriggerTime": ("flyte._trigger", "TriggerTime"),
    "OnArtifact": ("flyte._trigger", "OnArtifact"),
    "TriggeredArtifact": ("flyte._trigger", "TriggeredArtifact"),
    "TriggeredPartition": ("flyte._trigger", "TriggeredPartition"),
    "Documentation": ("flyte._doc", "Documentation"),
    "Link": ("flyte._doc", "Link"),
    "AppHandle": ("flyte._doc", "AppHandle"),
    "ImageBuild": ("flyte._deploy", "ImageBuild"),
    "build": ("flyte._deploy", "build"),
    "build_images": ("flyte._deploy", "build_images"),
    "deploy": ("flyte._deploy", "deploy"),
    "current_domain": ("flyte._initialize", "current_domain"),
    "current_project": ("flyte._initialize", "current_project"),
    "init_from_api_key": ("flyte._initialize", "init_from_api_key"),
    "init_in_cluster": ("flyte._initialize", "init_in_cluster"),
    "init_passthrough": ("flyte._initialize", "init_passthrough"),
    "is_control_plane_available": ("flyte._initialize", "is_control_plane_available"),
    "load_interactive_ctx": ("flyte._interactive", "load_interactive_ctx"),
    "load_plugin_config": ("flyte._script", "load_plugin_config"),
    "run_python_script": ("flyte._script", "run_python_script"),
    "logger": ("flyte._logging", "logger"),
    "system_logger": ("flyte._logging", "system_logger"),
    "extras": ("flyte.extras", None),
    "remote": ("flyte.remote", None),
    "storage": ("flyte.storage", None),
    "models": ("flyte.models", None),
    "notify": ("flyte.notify", None),
}


def version() -> str:
    """The version of this SDK (flyte-core)."""
    return __version__


__all__ = sorted([*_LAZY, "__version__", "version"])


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'flyte' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:
    from flyte import app as app
    from flyte import durable as durable
    from flyte import errors as errors
    from flyte import extend as extend
    from flyte import extras as extras
    from flyte import io as io
    from flyte import notify as notify
    from flyte import report as report
    from flyte._cache import Cache as Cache
    from flyte._cache import CachePolicy as CachePolicy
    from flyte._cache import CacheRequest as CacheRequest
    from flyte._checkpoint import BaseCheckpoint as BaseCheckpoint
    from flyte._checkpoint import Checkpoint as Checkpoint
    from flyte._checkpoint import latest_checkpoint as latest_checkpoint
    from flyte._condition import ConditionWebhook as ConditionWebhook
    from flyte._condition import new_condition as new_condition
    from flyte._context import ctx as ctx
    from flyte._deploy import ImageBuild as ImageBuild
    from flyte._deploy import build as build
    from flyte._deploy import build_images as build_images
    from flyte._deploy import deploy as deploy
    from flyte._doc import AppHandle as AppHandle
    from flyte._doc import Documentation as Documentation
    from flyte._doc import Link as Link
    from flyte._environment import TaskEnvironment as TaskEnvironment
    from flyte._environment_base import Environment as Environment
    from flyte._group import (
        custom_context as custom_context,
    )
    from flyte._group import (
        get_custom_context as get_custom_context,
    )
    from flyte._group import (
        group as group,
    )
    from flyte._image import Image as Image
    from flyte._initialize import current_domain as current_domain
    from flyte._initialize import current_project as current_project
    from flyte._initialize import init_from_api_key as init_from_api_key
    from flyte._initialize import init_in_cluster as init_in_cluster
    from flyte._initialize import init_passthrough as init_passthrough
    from flyte._initialize import is_control_plane_available as is_control_plane_available
    from flyte._interactive import load_interactive_ctx as load_interactive_ctx
    from flyte._logging import logger as logger
    from flyte._logging import system_logger as system_logger
    from flyte._map import map as map
    from flyte._pod import PodTemplate as PodTemplate
    from flyte._resources import AMD_GPU as AMD_GPU
    from flyte._resources import APPLE_SILICON as APPLE_SILICON
    from flyte._resources import GPU as GPU
    from flyte._resources import HABANA_GAUDI as HABANA_GAUDI
    from flyte._resources import TPU as TPU
    from flyte._resources import Device as Device
    from flyte._resources import DeviceClass as DeviceClass
    from flyte._resources import Neuron as Neuron
    from flyte._resources import Resources as Resources
    from flyte._retry import Backoff as Backoff
    from flyte._retry import RetryStrategy as RetryStrategy
    from flyte._reusable import ReusePolicy as ReusePolicy
    from flyte._run import (
        Run as Run,
    )
    from flyte._run import (
        init as init,
    )
    from flyte._run import (
        init_from_config as init_from_config,
    )
    from flyte._run import (
        rerun as rerun,
    )
    from flyte._run import (
        run as run,
    )
    from flyte._run import (
        with_runcontext as with_runcontext,
    )
    from flyte._script import load_plugin_config as load_plugin_config
    from flyte._script import run_python_script as run_python_script
    from flyte._secret import Secret as Secret
    from flyte._secret import SecretRequest as SecretRequest
    from flyte._task import (
        AsyncFunctionTaskTemplate as AsyncFunctionTaskTemplate,
    )
    from flyte._task import (
        TaskTemplate as TaskTemplate,
    )
    from flyte._timeout import Timeout as Timeout
    from flyte._timeout import TimeoutType as TimeoutType
    from flyte._trace import trace as trace
    from flyte._trigger import Cron as Cron
    from flyte._trigger import FixedRate as FixedRate
    from flyte._trigger import OnArtifact as OnArtifact
    from flyte._trigger import Trigger as Trigger
    from flyte._trigger import TriggeredArtifact as TriggeredArtifact
    from flyte._trigger import TriggeredPartition as TriggeredPartition
    from flyte._trigger import TriggerTime as TriggerTime
    from flyte.app._serve import serve as serve
    from flyte.app._serve import with_servecontext as with_servecontext
