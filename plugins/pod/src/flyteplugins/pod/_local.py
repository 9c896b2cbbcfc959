"""Local execution of pod tasks: the task's real manifest, run as a real pod by ``podman kube play``.

The pod is the one ``flyte serialize`` writes, with what a local run needs on top: a name fixed per
run, action and attempt (a recovered driver adopts the pod a killed one started), a
host folder for inputs/outputs, the run's Python packages and code mounted read-only at the same
paths (so the primary image only needs the same Python version), and GPUs handed over as CDI
devices when the machine has them. The primary container is waited for, its logs kept with the
action, its outputs read back, and the pod (sidecars included) removed whatever happened.
"""

from __future__ import annotations

import asyncio
import glob
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import sysconfig
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flyte.errors import AcceleratorUnavailableError, ImagePullBackOffError, NonRecoverableError, OOMError
from flyte.extend import (
    ExecutionContext,
    SerializationContext,
    beat_while_waiting,
    finish_shielded,
    gpu_matches,
    local_gpus,
    run_command,
    touch_beat,
)
from flyteplugins.pod._accelerators import accelerator_resource_names
from flyteplugins.pod._manifest import build_pod, k8s_name, task_location
from flyteplugins.pod._template import Pod, pod_options, pod_template_of
from flyteplugins.pod.entrypoint import MAIN_ALIAS, ORPHAN_GRACE_FILE, ORPHANED_FILE

log = logging.getLogger("flyteplugins.pod")

IO_MOUNT = "/var/run/flyte-pod"
"""Where the primary container finds its inputs and writes its outputs."""
LOG_TAIL_LINES = 30
RUN_LABEL = "flyte.org/run"
ACTION_LABEL = "flyte.org/action"
"""Labels of local pods: ``podman pod ls --filter label=flyte.org/run=<run>`` lists a run's pods."""
PODMAN_MIN_CDI = (5, 4)
"""kube play passes CDI devices given as resources.limits keys from podman 5.4 on."""


class PodmanNotFoundError(NonRecoverableError):
    """Local pod runs need podman; it is not installed (or not on PATH)."""


class PodSetupError(NonRecoverableError):
    """The pod could not start the task (bad image, Python mismatch, import error)."""


class PodTaskError(RuntimeError):
    """The primary container failed without a Python exception (exit status and log tail)."""


# ---- podman ---------------------------------------------------------------------------------------
def podman_executable() -> str:
    exe = os.environ.get("FLYTE_PODMAN") or shutil.which("podman")
    if not exe:
        raise PodmanNotFoundError(
            "Pod tasks run locally with podman (`podman kube play`), which is not installed: install "
            "podman (e.g. `apt-get install podman`), or run the task on a Kubernetes cluster."
        )
    return exe


async def _podman(*args: str, timeout: float | None = None) -> tuple[int, str, str]:
    """Run one podman command; killed when cancelled."""
    return await run_command(podman_executable(), *args, timeout=timeout)


async def _follow(container: str, into: list[str], ctx: ExecutionContext, primary: bool) -> None:
    """Stream one container's output (``podman logs --follow``) into ``into`` and the plugin's logger
    as it is written, until the container ends."""
    proc = await asyncio.create_subprocess_exec(
        podman_executable(),
        "logs",
        "--follow",
        container,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    tag = ctx.action_id[:12] if primary else f"{ctx.action_id[:12]} {container}"
    try:
        assert proc.stdout is not None
        while True:
            line = await proc.stdout.readline()
            if not line:
                break
            text = line.decode(errors="replace")
            into.append(text)
            log.info("[%s] %s", tag, text.rstrip("\n"))
    finally:
        if proc.returncode is None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass
            await asyncio.shield(proc.wait())


_podman_version: tuple[int, ...] | None = None


async def podman_version() -> tuple[int, ...]:
    global _podman_version
    if _podman_version is None:
        _, out, _ = await _podman("version", "--format", "{{.Client.Version}}", timeout=60)
        _podman_version = tuple(int(x) for x in re.findall(r"\d+", out)[:3]) or (0,)
    return _podman_version


# ---- accelerators ---------------------------------------------------------------------------------


def local_tpus() -> list[str]:
    """TPU chips of a Cloud TPU VM (``/dev/accel*`` or ``/dev/vfio/<n>``); none elsewhere."""
    return sorted(glob.glob("/dev/accel[0-9]*") + glob.glob("/dev/vfio/[0-9]*"))


def cdi_gpu_names() -> set[str]:
    """Device names (``"0"``, ``"all"``, UUIDs) of the ``nvidia.com/gpu`` CDI specs on this machine."""
    import yaml

    names: set[str] = set()
    for path in sorted(glob.glob("/etc/cdi/*") + glob.glob("/var/run/cdi/*")):
        try:
            with open(path) as f:
                spec = json.load(f) if path.endswith(".json") else yaml.safe_load(f)
        except (OSError, ValueError, yaml.YAMLError):
            continue
        if isinstance(spec, dict) and spec.get("kind") == "nvidia.com/gpu":
            names.update(str(d.get("name")) for d in spec.get("devices") or [] if isinstance(d, dict))
    return names


@dataclass
class AcceleratorPlan:
    """Limits keys that replace the accelerator request locally (CDI devices), or none (CPU)."""

    devices: list[str]
    fallback: bool = False


def _fallback_allowed(opts: Pod) -> bool:
    return opts.gpu_fallback == "cpu" or os.environ.get("FLYTE_GPU_FALLBACK", "").lower() == "cpu"


async def plan_accelerators(task: Any, opts: Pod) -> AcceleratorPlan:
    """What the pod gets for its accelerator request here; refuses what this machine lacks."""
    device = task.resources.device() if task.resources is not None else None
    if device is None:
        return AcceleratorPlan([])
    what = f"{device.quantity}x {device.device or 'GPU'}"
    reason: str | None = None
    devices: list[str] = []
    if device.device_class == "GPU" and device.partition is not None:
        reason = (
            f"Task {task.name!r} asks for a MIG partition ({device.device} {device.partition}); MIG "
            "partitions are carved out by the cluster's NVIDIA GPU operator, not by a local pod."
        )
    elif device.device_class == "GPU":
        gpus, source = local_gpus()
        fit = [g for g in gpus if gpu_matches(g.name, device.device)]
        if len(fit) < device.quantity:
            have = ", ".join(f"{g.name} (index {g.index})" for g in gpus) or "no GPUs"
            reason = f"Task {task.name!r} asks for {what}, but this machine has {have} (from {source})."
        else:
            devices = [f"nvidia.com/gpu={g.index}" for g in fit[: device.quantity]]
    elif device.device_class == "TPU":
        chips = local_tpus()
        if not chips:
            reason = (
                f"Task {task.name!r} asks for a TPU ({device.device} {device.partition or ''}), but this "
                "machine has none (no /dev/accel* or /dev/vfio devices): TPUs exist on GKE TPU node "
                "pools and Cloud TPU VMs."
            )
        else:
            devices = [f"podman.io/device={c}" for c in chips]
    else:
        reason = (
            f"Task {task.name!r} asks for {what} ({device.device_class}); local pods get NVIDIA GPUs "
            "and TPUs only."
        )
    if reason is not None:
        if _fallback_allowed(opts):
            warnings.warn(
                f"{reason} Running its pod on CPU (gpu_fallback='cpu' / FLYTE_GPU_FALLBACK=cpu).",
                RuntimeWarning,
                stacklevel=2,
            )
            return AcceleratorPlan([], fallback=True)
        raise AcceleratorUnavailableError(
            f"{reason} Run it on a Kubernetes cluster with those accelerators, change its Resources, "
            "or opt into a CPU run with Pod(gpu_fallback='cpu') or FLYTE_GPU_FALLBACK=cpu."
        )
    version = await podman_version()
    if version < PODMAN_MIN_CDI:
        raise AcceleratorUnavailableError(
            f"Task {task.name!r} asks for {what}, which this machine has, but podman "
            f"{'.'.join(map(str, version))} cannot hand devices to `podman kube play` (CDI devices in "
            "resources.limits need podman 5.4 or newer): upgrade podman, or opt into a CPU run with "
            "FLYTE_GPU_FALLBACK=cpu."
        )
    if device.device_class == "GPU":
        missing = [d for d in devices if d.split("=", 1)[1] not in cdi_gpu_names()]
        if missing:
            raise AcceleratorUnavailableError(
                f"Task {task.name!r}: this machine's GPUs have no CDI spec for {', '.join(missing)}; "
                "generate one with `nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`."
            )
    return AcceleratorPlan(devices)


# ---- the local manifest ---------------------------------------------------------------------------
_SYSTEM_DIRS = {"/", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/dev", "/proc", "/sys", "/var"}


def _module_root(name: str, file: str) -> str | None:
    """The sys.path entry a module was imported from (None for aliases such as ``py.error``)."""
    path = Path(file)
    ups = name.count(".") + (1 if path.name == "__init__.py" else 0)
    root = path.parent
    for _ in range(ups):
        root = root.parent
    top = name.split(".", 1)[0]
    try:
        first = path.relative_to(root).parts[0]
    except (ValueError, IndexError):
        return None
    if first != top and not first.startswith(top + "."):
        return None
    return str(root) if root.is_dir() else None


def code_paths(extra: list[str]) -> list[str]:
    """The run's packages and code, in ``sys.path`` order: its entries and the roots of imported
    modules (editable installs), never the standard library."""
    stdlib = {os.path.realpath(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib")}

    def keep(p: str) -> bool:
        if p in _SYSTEM_DIRS or not os.path.isdir(p):
            return False
        real = os.path.realpath(p)
        in_stdlib = any(real == s or real.startswith(s + os.sep) for s in stdlib)
        return not in_stdlib or "site-packages" in real or "dist-packages" in real

    found: list[str] = [os.path.abspath(p) for p in [*extra, *sys.path] if p]
    for name, mod in list(sys.modules.items()):
        file = getattr(mod, "__file__", None)
        if isinstance(file, str) and name not in ("__main__", MAIN_ALIAS) and os.path.isabs(file):
            root = _module_root(name, file)
            if root is not None:
                found.append(root)
    return list(dict.fromkeys(p for p in found if keep(p)))


def _mount_roots(paths: list[str]) -> list[str]:
    """The paths to bind-mount: those not already inside another mounted one."""
    roots: list[str] = []
    for p in sorted(set(paths), key=len):
        if not any(p == r or p.startswith(r.rstrip("/") + "/") for r in roots):
            roots.append(p)
    return roots


def localize(
    pod: dict[str, Any],
    *,
    primary_name: str,
    image: str,
    io_dir: str,
    task_module: str,
    task_file: str | None,
    plan: AcceleratorPlan,
    extra_paths: list[str],
) -> dict[str, Any]:
    """The manifest as a local run plays it (see the module docstring)."""
    spec = pod["spec"]
    paths = code_paths(extra_paths)
    bootstrap = str(Path(__file__).parent / "_bootstrap")
    volumes = spec.setdefault("volumes", [])
    mounts: list[dict[str, Any]] = [{"name": "flyte-pod-io", "mountPath": IO_MOUNT}]
    volumes.append({"name": "flyte-pod-io", "hostPath": {"path": io_dir, "type": "Directory"}})
    for i, root in enumerate(_mount_roots([*paths, bootstrap])):
        volumes.append({"name": f"flyte-code-{i}", "hostPath": {"path": root, "type": "Directory"}})
        mounts.append({"name": f"flyte-code-{i}", "mountPath": root, "readOnly": True})
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    env = [
        {"name": "PYTHONPATH", "value": bootstrap},  # sitecustomize adds FLYTE_POD_PATH after the stdlib
        {"name": "FLYTE_POD_PATH", "value": os.pathsep.join(paths)},
        {"name": "FLYTE_POD_PYTHON", "value": version},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
    ]
    for c in spec["containers"]:
        c.setdefault("imagePullPolicy", "IfNotPresent")
        res = c.get("resources") or {}
        for key in ("limits", "requests"):
            values = res.get(key)
            if not values:
                continue
            accel = accelerator_resource_names(values)
            for k in accel:
                del values[k]
            if accel and key == "limits" and c["name"] == primary_name:
                values.update(dict.fromkeys(plan.devices, "1"))
        if c["name"] != primary_name:
            continue
        c["image"] = image
        command = list(c.get("command") or [])
        if "--task-module" in command:
            i = command.index("--task-module") + 1
            if task_module == MAIN_ALIAS and i < len(command):
                command[i] = MAIN_ALIAS
            if task_file:
                command += ["--task-file", task_file]
        c["command"] = command
        names = {e["name"] for e in env}
        c["env"] = [e for e in c.get("env") or [] if e.get("name") not in names] + env
        c["volumeMounts"] = [*(c.get("volumeMounts") or []), *mounts]
    return pod


def _keep() -> bool:
    """``FLYTE_POD_KEEP=1`` (debugging): leave the pod and its files for inspection."""
    return os.environ.get("FLYTE_POD_KEEP", "") not in ("", "0")


def _has_pod_spec(pod_spec: Any) -> bool:
    if pod_spec is None:
        return False
    if isinstance(pod_spec, dict):
        return bool(pod_spec)
    return True  # a kubernetes model: the user wrote a spec on purpose


def stable_pod_name(run: str, action_id: str, attempt: int, where: str = "") -> str:
    """The pod of one attempt of an action: the same name each time a driver runs it (adoption).
    ``where`` (the run's store prefix) keeps runs of the same name in two flyte homes apart."""
    tag = hashlib.sha1(f"{where}|{run}".encode()).hexdigest()[:6]  # also: long run names are cut
    name: str = k8s_name(f"flyte-{k8s_name(run, 20)}-{tag}-{k8s_name(action_id, 12)}-{attempt}")
    return name


def _orphan_grace() -> float:
    from flyte.extend import orphan_grace

    return orphan_grace()


def stable_workdir(name: str) -> str:
    """The host folder of the pod ``name``'s manifest and inputs/outputs (kept if the driver dies)."""
    return os.path.join(tempfile.gettempdir(), f"{name}-work")


# ---- the backend ----------------------------------------------------------------------------------
class PodBackend:
    """Runs actions of type ``pod`` as real pods on this machine with ``podman kube play``."""

    @staticmethod
    def runs_in_process(task: Any) -> bool:
        """Whether flyte should run this action in process instead of as a pod. A pod template with
        nothing but metadata (no ``pod_spec``: labels, annotations, the primary container's name)
        changes nothing a local run could show, so such a task runs like a plain Python task, as
        anchor users expect of local runs; a ``pod_spec`` or a ``Pod(...)`` config runs a pod."""
        for candidate in (getattr(task, "plugin_config", None), getattr(task, "pod_template", None)):
            if isinstance(candidate, Pod):
                return False
        tmpl = getattr(task, "pod_template", None)
        return tmpl is not None and not _has_pod_spec(tmpl.pod_spec)

    async def run(self, task: Any, inputs: dict[str, Any], ctx: ExecutionContext) -> Any:
        import cloudpickle
        import yaml

        podman_executable()
        opts = pod_options(task)
        tmpl = pod_template_of(task)
        plan = await plan_accelerators(task, opts)
        # Named after the run, action and attempt (never random), in a work folder that outlives a
        # killed driver: a recovered driver finds the pod a crashed one started (issue 23: adoption).
        name = stable_pod_name(ctx.run_name, ctx.action_id, ctx.attempt, ctx.run_prefix)
        work = stable_workdir(name)
        io_dir = os.path.join(work, "io")
        try:
            adopted = await self._adopt(task, name, tmpl.primary_container_name, io_dir, ctx)
            if adopted is not None:
                return adopted[0]
            shutil.rmtree(work, ignore_errors=True)
            os.makedirs(io_dir)
            os.chmod(io_dir, 0o777)  # the container may run as another user
            with open(os.path.join(io_dir, "inputs.pkl"), "wb") as f:
                cloudpickle.dump(inputs, f)
            with open(os.path.join(io_dir, ORPHAN_GRACE_FILE), "w") as f:
                f.write(repr(_orphan_grace()))  # the pod stops itself if no driver waits for it
            touch_beat(io_dir)
            sctx = SerializationContext(input_path=f"{IO_MOUNT}/inputs.pkl", output_path=IO_MOUNT)
            pod = build_pod(task, sctx, name=name)
            module, _, file = task_location(task)
            host_module = getattr(getattr(task, "func", None), "__module__", None)
            primary = next(c for c in pod["spec"]["containers"] if c["name"] == tmpl.primary_container_name)
            image = opts.local_image or os.environ.get("FLYTE_POD_LOCAL_IMAGE") or primary["image"]
            local = localize(
                pod,
                primary_name=tmpl.primary_container_name,
                image=image,
                io_dir=io_dir,
                task_module=MAIN_ALIAS if host_module == "__main__" else module,
                task_file=file,
                plan=plan,
                extra_paths=[os.path.dirname(file)] if file else [],
            )
            self._secrets(local, tmpl.primary_container_name)
            labels = local["metadata"].setdefault("labels", {})
            labels.update({RUN_LABEL: k8s_name(ctx.run_name), ACTION_LABEL: k8s_name(ctx.action_id)})
            manifest = os.path.join(work, "pod.yaml")
            with open(manifest, "w") as f:
                yaml.safe_dump(local, f, sort_keys=False)
            await self._ensure_images(task, local, primary_image=image)
            containers = [c["name"] for c in local["spec"]["containers"]]
            return await self._play(
                task, name, tmpl.primary_container_name, containers, manifest, io_dir, ctx
            )
        finally:
            if _keep():
                log.warning("FLYTE_POD_KEEP: left the manifest and inputs/outputs in %s", work)
            else:
                shutil.rmtree(work, ignore_errors=True)

    async def _adopt(
        self, task: Any, name: str, primary: str, io_dir: str, ctx: ExecutionContext
    ) -> tuple[Any] | None:
        """What a crashed driver's pod of this attempt left (issue 23): a pod whose primary container
        runs is followed to its end, one that ended meanwhile gives its exit code and outputs, and
        outputs written atomically by a pod already removed are used; ``(result,)`` then (a failure
        raises), noted in the journal. None: nothing to adopt, start a pod."""
        container = f"{name}-{primary}"
        rc, out, _ = await _podman(
            "container", "inspect", "--format", "{{.State.Status}}", container, timeout=60
        )
        state = out.strip().lower() if rc == 0 else None
        outputs = os.path.join(io_dir, "outputs.pkl")
        orphaned = os.path.join(io_dir, ORPHANED_FILE)
        if state is not None and os.path.exists(orphaned):  # it stopped itself: no result to use
            why = Path(orphaned).read_text().strip()
            warnings.warn(
                f"The pod {name} that ran {task.name!r} (action {ctx.action_id[:12]}) before the driver "
                f"stopped left no result ({why}); running it again (a system retry).",
                RuntimeWarning,
                stacklevel=2,
            )
            await self._teardown(name)
            return None
        if state in ("running", "exited", "stopped", "paused") and os.path.isdir(io_dir):
            how = (
                "awaited: still running when the driver came back"
                if state in ("running", "paused")
                else "finished while the driver was down"
            )
            log.info(
                "[%s] adopting pod %s (%s) started before the driver restarted",
                ctx.action_id[:12],
                name,
                state,
            )
            self._note_adopted(ctx, how)
            rc, out, _ = await _podman(
                "pod", "inspect", "--format", "{{range .Containers}}{{.Name}} {{end}}", name, timeout=60
            )
            infra = f"{name}-infra"
            names = [c for c in out.split() if c != infra and c.startswith(f"{name}-")]
            containers = [c[len(name) + 1 :] for c in names] or [primary]
            if primary not in containers:
                containers.append(primary)
            return (await self._play(task, name, primary, containers, None, io_dir, ctx),)
        if state is None and os.path.exists(outputs):
            self._note_adopted(ctx, "finished while the driver was down")
            return (self._result(task, 0, False, "", io_dir),)
        if state is not None or (await _podman("pod", "exists", name, timeout=60))[0] == 0:
            await self._teardown(name)  # never started (a driver killed mid-play): start afresh
        return None

    @staticmethod
    def _note_adopted(ctx: ExecutionContext, how: str) -> None:
        if hasattr(ctx.journal, "action_adopted"):
            ctx.journal.action_adopted(ctx.run_name, ctx.action_id, how)

    @staticmethod
    def _secrets(pod: dict[str, Any], primary_name: str) -> None:
        """Locally a secret comes from this process's environment, as in local Python tasks; a secret
        that is not set is left out (the task sees it missing), never invented."""
        for c in pod["spec"]["containers"]:
            if c["name"] != primary_name:
                continue
            env = []
            for e in c.get("env") or []:
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref is None:
                    env.append(e)
                elif e["name"] in os.environ:
                    env.append({"name": e["name"], "value": os.environ[e["name"]]})
            c["env"] = env

    @staticmethod
    async def _ensure_images(task: Any, pod: dict[str, Any], primary_image: str) -> None:
        """Pull what is missing (once per image) so a missing image is named, not a kube play error."""
        for image in dict.fromkeys(c["image"] for c in pod["spec"]["containers"]):
            rc, _, _ = await _podman("image", "exists", image, timeout=60)
            if rc == 0:
                continue
            rc, out, err = await _podman("pull", "--quiet", image, timeout=600)
            if rc != 0:
                hint = (
                    "run this task locally with another image: Pod(local_image=...) or FLYTE_POD_LOCAL_IMAGE"
                    if image == primary_image
                    else "change the sidecar's image"
                )
                reason = (err or out).strip().splitlines()[-1:] or [""]
                raise ImagePullBackOffError(
                    f"Task {task.name!r}: the image {image!r} of its pod is not on this machine and "
                    f"`podman pull` failed ({reason[0]}): build or pull it, or {hint}."
                )

    async def _play(
        self,
        task: Any,
        name: str,
        primary: str,
        containers: list[str],
        manifest: str | None,
        io_dir: str,
        ctx: ExecutionContext,
    ) -> Any:
        """Play ``manifest`` (None: the pod already exists, adopted), follow its containers' logs,
        wait for the primary one and read its result; the pod is removed whatever happens."""
        container = f"{name}-{primary}"
        logs: dict[str, list[str]] = {c: [] for c in containers}
        followers: list[asyncio.Task[None]] = []
        beating = asyncio.get_running_loop().create_task(beat_while_waiting(io_dir))
        try:
            rc, out, err = (
                (0, "", "") if manifest is None else await _podman("kube", "play", "--quiet", manifest)
            )
            if rc != 0:
                raise PodSetupError(f"Task {task.name!r}: `podman kube play` failed: {(err or out).strip()}")
            followers = [
                asyncio.get_running_loop().create_task(_follow(f"{name}-{c}", logs[c], ctx, c == primary))
                for c in containers
            ]
            rc, out, err = await _podman("wait", container)
            if rc != 0:
                raise PodSetupError(f"Task {task.name!r}: `podman wait {container}` failed: {err.strip()}")
            code = int(out.strip().splitlines()[-1])
            await asyncio.wait([followers[containers.index(primary)]], timeout=10)  # the rest of its log
            _, oom, _ = await _podman("inspect", "--format", "{{.State.OOMKilled}}", container)
            return self._result(task, code, oom.strip() == "true", "".join(logs[primary]), io_dir)
        finally:
            beating.cancel()
            if not _keep():
                await finish_shielded(self._teardown(name))
            if followers:  # the pod is gone (or done): each log ends; keep what there is, also on timeout
                await finish_shielded(asyncio.wait(followers, timeout=5))
                for t in followers:
                    t.cancel()
            self._keep_logs(ctx, primary, logs)

    @staticmethod
    async def _teardown(name: str) -> None:
        rc, _, err = await _podman("pod", "rm", "--force", "--time", "0", "--ignore", name, timeout=120)
        if rc != 0:
            log.warning("removing pod %s failed: %s", name, err.strip())

    @staticmethod
    def _keep_logs(ctx: ExecutionContext, primary: str, logs: dict[str, list[str]]) -> None:
        """Each container's output in the run's store, where the container plugin keeps its logs:
        ``logs/attempt-N.log`` for the primary, ``logs/attempt-N.<container>.log`` for sidecars."""
        base = f"{ctx.action_prefix().rstrip('/')}/logs/attempt-{ctx.attempt}"
        for name, lines in logs.items():
            if not lines and name != primary:
                continue
            path = f"{base}.log" if name == primary else f"{base}.{name}.log"
            try:
                ctx.store.put_bytes(path, "".join(lines).encode())
            except Exception as e:  # logs are a convenience; never fail the task over them
                log.warning("could not store the logs of container %s: %s", name, e)

    @staticmethod
    def _result(task: Any, code: int, oom: bool, logs: str, io_dir: str) -> Any:
        import cloudpickle

        def read(name: str) -> str | None:
            path = os.path.join(io_dir, name)
            return Path(path).read_text() if os.path.exists(path) else None

        tail = "\n".join(logs.splitlines()[-LOG_TAIL_LINES:])
        if code == 0:
            path = os.path.join(io_dir, "outputs.pkl")
            if not os.path.exists(path):
                raise PodTaskError(f"Task {task.name!r}: the primary container exited 0 but wrote no outputs")
            sys.modules.setdefault(MAIN_ALIAS, sys.modules["__main__"])
            with open(path, "rb") as f:
                return cloudpickle.load(f)
        setup = read("setup-error.txt")
        if setup is not None:
            raise PodSetupError(f"Task {task.name!r}: {setup.strip()}")
        limit = task.resources.memory if task.resources is not None else None
        limit = limit[1] if isinstance(limit, tuple) else limit
        if oom or (code == 137 and limit is not None):  # 137 without a limit: killed, not out of memory
            raise OOMError(
                f"Task {task.name!r} was killed in its pod (exit 137{', out of memory' if oom else ''}): it "
                f"used more than its memory limit ({limit or 'none set'}). Ask for more with "
                "Resources(memory=...)."
            )
        error = os.path.join(io_dir, "error.pkl")
        if os.path.exists(error):
            try:
                sys.modules.setdefault(MAIN_ALIAS, sys.modules["__main__"])
                with open(error, "rb") as f:
                    exc = cloudpickle.load(f)
            except Exception:
                exc = None
            if isinstance(exc, BaseException):
                exc.add_note(f"raised in the pod's primary container:\n{read('error.txt') or ''}".rstrip())
                raise exc
        raise PodTaskError(
            f"Task {task.name!r}: the primary container exited with status {code}. Last log lines:\n{tail}"
        )
