"""Local image builds: a ``flyte.Image`` becomes a Dockerfile and a ``podman build`` (or docker).

The tag is the image's URI (a hash of its base and layers), so an image already built is not built
again. Nothing is pulled: the base must already be in local storage. Builds run with
``--network=none`` unless a layer installs packages (pip/apt), which needs an index.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from flyte.errors import ImageBuildError
from flyteplugins.container._runtime import ContainerRuntime, find_runtime

_built: set[str] = set()
_lock = threading.Lock()


def _exists(rt: ContainerRuntime, ref: str) -> bool:
    args = ["image", "exists", ref] if rt.name == "podman" else ["image", "inspect", ref]
    return subprocess.run([rt.path, *args], capture_output=True, timeout=60).returncode == 0


def _check_base(rt: ContainerRuntime, base: str, uri: str) -> None:
    if not _exists(rt, base):
        raise ImageBuildError(
            f"Image {uri}: its base image {base!r} is not available locally, and local builds do not pull. "
            f"Pull it first (`{rt.name} pull {base}`) or build/load it, then build again."
        )


def _quote(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid Dockerfile double-quoted word


def _pip_args(layer: Any) -> str:
    return " ".join(shlex.quote(a) for a in layer.pip_install_args())


def dockerfile_for(image: Any, context: Path) -> tuple[str, bool]:
    """The Dockerfile of ``image`` (its copied files are put under ``context``) and whether the
    build needs the network."""
    from flyte import _image as im

    base = image.resolved_base()
    lines = [f"FROM {base}"]
    network = False
    for i, layer in enumerate(image.layers):
        if getattr(layer, "secret_mounts", ()):
            raise ImageBuildError(
                f"Image {image.uri}: layer {layer.kind!r} mounts secrets, which local builds do not support."
            )
        if isinstance(layer, im.Env):
            lines += [f"ENV {k}={_quote(v)}" for k, v in layer.env_vars]
        elif isinstance(layer, im.WorkDir):
            lines.append(f"WORKDIR {layer.workdir}")
        elif isinstance(layer, im.Commands):
            lines += [f"RUN {c}" for c in layer.commands]
        elif isinstance(layer, im.CopyConfig):
            dest = context / f"layer{i}"
            dest.mkdir()
            if layer.path_type == 1:
                shutil.copytree(layer.src, dest / layer.src.name, symlinks=True)
                src = f"layer{i}/{layer.src.name}/"
            else:
                shutil.copy2(layer.src, dest / layer.src.name)
                src = f"layer{i}/{layer.src.name}"
            dst = (
                layer.dst if layer.path_type == 1 or layer.dst.endswith("/") else layer.dst.rstrip("/") + "/"
            )
            lines.append(f"COPY {src} {dst}")
        elif isinstance(layer, im.PipPackages):
            network = True
            pkgs = " ".join(shlex.quote(p) for p in layer.packages)
            lines.append(
                f"RUN python3 -m pip install --no-cache-dir {_pip_args(layer)} {pkgs}".replace("  ", " ")
            )
        elif isinstance(layer, im.Requirements):
            network = True
            dest = context / f"layer{i}"
            dest.mkdir()
            shutil.copy2(layer.file, dest / "requirements.txt")
            lines.append(f"COPY layer{i}/requirements.txt /tmp/flyte-req{i}.txt")
            lines.append(
                f"RUN python3 -m pip install --no-cache-dir {_pip_args(layer)} -r /tmp/flyte-req{i}.txt"
            )
        elif isinstance(layer, im.AptPackages):
            network = True
            pkgs = " ".join(shlex.quote(p) for p in layer.packages)
            lines.append(
                "RUN apt-get update && apt-get install -y --no-install-recommends "
                f"{pkgs} && rm -rf /var/lib/apt/lists/*"
            )
        elif isinstance(layer, im.DockerIgnore):
            continue  # the build context holds only the copied files already
        else:
            raise ImageBuildError(
                f"Image {image.uri}: layer {layer.kind!r} is not built by the local builder "
                "(it builds env vars, workdir, commands, copied files/folders, pip/apt packages and "
                "requirements files, and Image.from_dockerfile)."
            )
    return "\n".join(lines) + "\n", network


def _dockerfile_bases(text: str) -> list[str]:
    stages: set[str] = set()
    bases: list[str] = []
    for raw in text.splitlines():
        words = raw.split()
        if len(words) >= 2 and words[0].upper() == "FROM":
            refs = [w for w in words[1:] if not w.startswith("--")]
            if refs and refs[0].lower() not in stages and refs[0].lower() != "scratch":
                bases.append(refs[0])
            if len(refs) >= 3 and refs[1].upper() == "AS":
                stages.add(refs[2].lower())
    return bases


def build_image(image: Any, force: bool = False) -> str:
    """Build ``image`` (a ``flyte.Image``) unless an image with its URI exists; return the URI."""
    uri = image.uri
    if image.dockerfile is None and uri == image.resolved_base():
        return str(uri)  # a plain base image: nothing to build (the runtime pulls it when it runs)
    rt = find_runtime()
    with _lock:
        if not force and (uri in _built or _exists(rt, uri)):
            _built.add(uri)
            return str(uri)
        image.validate()
        with tempfile.TemporaryDirectory(prefix="flyte-image-") as tmp:
            context = Path(tmp)
            if image.dockerfile is not None:
                text = image.dockerfile.read_text()
                bases = _dockerfile_bases(text)
                context = image.dockerfile.parent
                dockerfile = image.dockerfile
                # its RUN steps may fetch anything: those builds keep the network, the others get none
                network = any(ln.split()[:1] == ["RUN"] for ln in text.upper().splitlines())
            else:
                text, network = dockerfile_for(image, context)
                bases = [image.resolved_base()]
                dockerfile = Path(tmp) / "Dockerfile"
                dockerfile.write_text(text)
            for base in bases:
                _check_base(rt, base, uri)
            cmd = [rt.path, "build", "-t", uri, "-f", str(dockerfile)]
            if rt.name == "podman":
                cmd.append("--pull=never")
            if not network:
                cmd.append("--network=none")
            p = subprocess.run([*cmd, str(context)], capture_output=True, text=True, timeout=3600)
        if p.returncode != 0:
            tail = "\n".join((p.stderr or p.stdout).strip().splitlines()[-15:])
            raise ImageBuildError(f"Image {uri}: `{rt.name} build` failed (exit {p.returncode}):\n{tail}")
        _built.add(uri)
        return str(uri)


def image_ref(image: Any) -> str | None:
    """The reference to run: a ``flyte.Image`` is built first (once); a string is used as is."""
    from flyte._image import Image

    if image is None or image == "auto":
        return None
    if isinstance(image, Image):
        return build_image(image)
    return str(image)
