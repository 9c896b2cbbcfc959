"""``flyte.deploy``, ``flyte.build`` and ``flyte.build_images``, run locally.

There is no control plane to register with: ``deploy`` validates and serialises every task (and
app) of the environments and what they depend on, and returns the anchor's shape (a list of
Deployment objects holding those specs). It also records each task in the journal (``deployed``
table: spec, code identity, version and a copy of its module's source), so
``flyte.remote.Task.get(name, version=...)`` can run that code later, even after the file changed.
``build`` computes and returns the image's URI; images are built by the container runtime when a
task runs with ``isolation="container"`` (flyte-plugin-container), not here.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flyte.errors import DeploymentError, ImageBuildError, InvalidParameterError

if TYPE_CHECKING:
    from flyte._environment_base import Environment
    from flyte._image import Image
    from flyte._spec import TaskSpec


@dataclass
class ImageBuild:
    """The result of :func:`build`: the image's URI; ``remote_run`` and ``build_run`` stay None locally."""

    uri: str | None
    remote_run: Any | None
    build_run: Any | None = None


@dataclass
class ImageCache:
    """Environment name -> image URI, as :func:`build_images` returns it."""

    image_lookup: dict[str, str] = field(default_factory=dict)
    build_run_ids: dict[str, Any] = field(default_factory=dict)


@dataclass
class DeployedTask:
    """One task of a deployment: its validated spec and its triggers."""

    spec: TaskSpec
    triggers: list[Any] = field(default_factory=list)

    @property
    def deployed_task(self) -> TaskSpec:
        return self.spec

    @property
    def deployed_triggers(self) -> list[Any]:
        return self.triggers

    def summary_repr(self) -> str:
        return f"DeployedTask(name={self.spec.name}, version={self.spec.version})"

    def table_repr(self) -> list[tuple[str, ...]]:
        return [
            ("type", "task"),
            ("name", self.spec.name),
            ("version", self.spec.version),
            ("triggers", ",".join(t.name for t in self.triggers)),
        ]


@dataclass
class DeployedTaskEnvironment:
    """A task environment after deploy: the environment and its tasks' specs."""

    env: Any
    deployed_entities: list[DeployedTask]

    def get_name(self) -> str:
        return str(self.env.name)

    def summary_repr(self) -> str:
        ents = ", ".join(e.summary_repr() for e in self.deployed_entities)
        return f"Deployment(env=[{self.env.name}], entities=[{ents}])"

    def table_repr(self) -> list[list[tuple[str, ...]]]:
        return [e.table_repr() for e in self.deployed_entities]

    def env_repr(self) -> list[tuple[str, ...]]:
        image = self.env.image
        return [("environment", self.env.name), ("image", getattr(image, "uri", image) or "")]


@dataclass
class Deployment:
    """Everything one ``flyte.deploy`` call recorded, by environment name."""

    envs: dict[str, Any]

    def summary_repr(self) -> str:
        return f"Deployment(envs=[{', '.join(e.summary_repr() for e in self.envs.values())}])"

    def table_repr(self) -> list[list[tuple[str, ...]]]:
        return [row for d in self.envs.values() for row in d.table_repr()]

    def env_repr(self) -> list[list[tuple[str, ...]]]:
        return [d.env_repr() for d in self.envs.values()]


def _closure(envs: tuple[Environment, ...]) -> list[Environment]:
    """The environments and, transitively, what they depend on; each once, dependencies first."""
    from flyte._environment_base import Environment

    out: list[Environment] = []
    seen: set[int] = set()

    def visit(env: Any) -> None:
        if not isinstance(env, Environment):
            raise InvalidParameterError(
                "flyte.deploy", "envs", env, "Pass TaskEnvironment or flyte.app.AppEnvironment objects."
            )
        if id(env) in seen:
            return
        seen.add(id(env))
        for dep in env.depends_on:
            visit(dep)
        out.append(env)

    for env in envs:
        visit(env)
    return out


def _deploy_env(env: Any, version: str | None) -> Any:
    from flyte._environment import TaskEnvironment
    from flyte._serialization import SerializationContext

    if not isinstance(env, TaskEnvironment):
        from flyte.app._deploy import DeployedAppEnvironment

        try:
            return DeployedAppEnvironment(env=env, deployed_app=env.spec())
        except Exception as e:
            raise DeploymentError(f"Environment {env.name!r}: its spec could not be built: {e}") from e
    from flyte._initialize import current_domain, current_project

    sctx = SerializationContext(project=current_project(), domain=current_domain(), version=version or "")
    deployed = []
    for name, task in env.tasks.items():
        try:
            spec = task.spec(sctx)
        except Exception as e:
            raise DeploymentError(
                f"Task {name!r} of environment {env.name!r} could not be serialised: {e}"
            ) from e
        deployed.append(DeployedTask(spec=spec, triggers=list(getattr(task, "triggers", ()))))
    return DeployedTaskEnvironment(env=env, deployed_entities=deployed)


def deploy(
    *envs: Environment,
    dry_run: bool = False,
    version: str | None = None,
    interactive_mode: bool | None = None,
    copy_style: str = "loaded_modules",
    dryrun: bool | None = None,
) -> list[Deployment]:
    """Validate and serialise every task of ``envs`` (and their dependencies); return the specs."""
    if not envs:
        raise InvalidParameterError("flyte.deploy", "envs", (), "Pass at least one environment.")
    if version is not None and (not isinstance(version, str) or not version.strip()):
        raise InvalidParameterError("flyte.deploy", "version", version, "Use a non-empty string or None.")
    deployed = {env.name: _deploy_env(env, version) for env in _closure(envs)}
    _record(deployed, version, write=not (dry_run or dryrun))
    return [Deployment(envs=deployed)]


def _module_source(task: Any) -> tuple[str, str | None, str, bytes] | None:
    """(module file, module name, attribute, source) of the module defining ``task``; None when the
    task was defined where no source file exists (``python -c``, a notebook cell)."""
    from flyte._run import _task_location

    module_file, module_name, attr = _task_location(task)
    if not module_file or not module_file.endswith(".py") or not os.path.exists(module_file):
        return None
    with open(module_file, "rb") as f:
        return module_file, module_name, attr, f.read()


def _record(deployed: dict[str, Any], version: str | None, write: bool = True) -> None:
    """Version every deployed task (``version``, or a hash of its code bundle) and record it in the
    journal (``write=False``, a dry run: the versions only)."""
    import hashlib
    import logging
    import time

    from flyte._initialize import current_domain, current_project
    from flyte._runtime import reader

    rows = []
    now = time.time()
    for denv in deployed.values():
        if not isinstance(denv, DeployedTaskEnvironment):
            continue  # apps are served, not referenced
        for task in denv.env.tasks.values():
            found = _module_source(task)
            if found is None and not write:
                continue
            if found is None:
                logging.getLogger("flyte").warning(
                    "deploy: task %s has no module source file; it is not recorded and "
                    "flyte.remote.Task.get cannot run it (define it in a .py file)",
                    task.name,
                )
                continue
            module_file, module_name, attr, source = found
            bundle = hashlib.blake2b(source, digest_size=16).hexdigest()
            identity = task.identity
            v = version or hashlib.blake2b(f"{identity}|{bundle}".encode(), digest_size=10).hexdigest()
            spec = next((d.spec for d in denv.deployed_entities if d.spec.name == task.name), None)
            if spec is not None and not version:
                spec = spec.model_copy(update={"version": v})
                for d in denv.deployed_entities:
                    if d.spec.name == task.name:
                        d.spec = spec
            rows.append(
                {
                    "name": task.name,
                    "version": v,
                    "env": denv.env.name,
                    "task_type": task.task_type,
                    "identity": identity,
                    "source_version": task.source_version(),
                    "bundle_digest": bundle,
                    "module_name": module_name,
                    "module_file": module_file,
                    "attr": attr,
                    "source": source,
                    "spec": spec.model_dump_json() if spec is not None else None,
                    "created_at": now,
                    "project": current_project(),
                    "domain": current_domain(),
                }
            )
    if write:
        reader.put_deployed(rows)


def build(image: Image | str, dry_run: bool = False, force: bool = False, wait: bool = True) -> ImageBuild:
    """Build the image locally and return its URI.

    The build is a plugin's (``flyte_build_image`` hook; flyte-plugin-container builds with podman or
    docker, skipping an image already built unless ``force``). With ``dry_run``, or when no installed
    plugin can build on this machine, only the local inputs (requirement files, Dockerfile...) are
    checked and the URI is returned unbuilt.
    """
    from flyte._image import Image

    if isinstance(image, str):
        return ImageBuild(uri=image, remote_run=None)
    if not isinstance(image, Image):
        raise InvalidParameterError("flyte.build", "image", image, "Pass a flyte.Image.")
    try:
        uri = image.uri
        image.validate()
    except InvalidParameterError as e:
        raise ImageBuildError(f"Image {image.to_dict()['uri'] or image}: {e}") from e
    if dry_run:
        return ImageBuild(uri=uri, remote_run=None)
    from flyte._plugins.manager import load_plugins

    built = load_plugins().pm.hook.flyte_build_image(image=image, force=bool(force))
    return ImageBuild(uri=built or uri, remote_run=None)


def build_images(
    *envs: Environment, copy_style: str = "loaded_modules", seed_cache: ImageCache | None = None
) -> ImageCache:
    """:func:`build` the image of each environment (and dependency); ``seed_cache`` entries are reused."""
    from flyte._image import Image

    lookup: dict[str, str] = {}
    for env in _closure(envs):
        if seed_cache is not None and env.name in seed_cache.image_lookup:
            lookup[env.name] = seed_cache.image_lookup[env.name]
            continue
        image = env.image
        if image == "auto" or image is None:
            image = Image.from_debian_base()
        uri = build(image).uri
        if uri is not None:
            lookup[env.name] = uri
    return ImageCache(image_lookup=lookup)


def _aio(func: Any) -> None:
    async def aio(*args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(func, *args, **kwargs)

    func.aio = aio


for _f in (deploy, build, build_images):
    _aio(_f)
