"""Tasks for the process-isolation tests (``test_workers_*.py``): memory limits, warm replicas,
crashes, CPU-bound parallelism and GPU assignment. Imported by the test process and, by name, by
the worker processes it starts."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import flyte
import flyte.errors

MiB = 1024 * 1024

# Module-level setup, paid once per process that imports this module (the "model load").
SETUP_LOG = os.environ.get("WORKERS_APP_SETUP_LOG")
if SETUP_LOG:
    with open(SETUP_LOG, "a") as _f:
        _f.write(f"{os.getpid()}\n")
CALLS: list[int] = []

plain = flyte.TaskEnvironment(name="wk_plain")
limited = flyte.TaskEnvironment(name="wk_limited", resources=flyte.Resources(cpu=1, memory="200Mi"))
reusable = flyte.TaskEnvironment(
    name="wk_reusable",
    resources=flyte.Resources(cpu=1, memory="500Mi"),
    reusable=flyte.ReusePolicy(replicas=2),
)
concurrent_env = flyte.TaskEnvironment(
    name="wk_concurrent", reusable=flyte.ReusePolicy(replicas=(1, 2), concurrency=4)
)
in_process_env = flyte.TaskEnvironment(name="wk_iso_process", isolation="process")
inline_env = flyte.TaskEnvironment(
    name="wk_iso_inline", resources=flyte.Resources(memory="300Mi"), isolation="inline"
)
ttl_env = flyte.TaskEnvironment(name="wk_ttl", reusable=flyte.ReusePolicy(replicas=(0, 2), idle_ttl=1))
t4 = flyte.TaskEnvironment(name="wk_t4", resources=flyte.Resources(gpu="T4:1"))
a100x2 = flyte.TaskEnvironment(name="wk_a100", resources=flyte.Resources(gpu="A100:2"))
h100 = flyte.TaskEnvironment(name="wk_h100", resources=flyte.Resources(gpu="H100:1"))
mig = flyte.TaskEnvironment(
    name="wk_mig", resources=flyte.Resources(gpu=flyte.GPU("A100", 1, partition="1g.5gb"))
)


# ---- memory ---------------------------------------------------------------------------------------
@limited.task
async def hog(mb: int, step_mb: int) -> int:
    """Hold ``mb`` MiB, ``step_mb`` at a time (small steps: the RSS watcher; one big step: the rlimit)."""
    chunks = []
    for _ in range(max(1, mb // step_mb)):
        chunks.append(b"x" * (step_mb * MiB))
        await asyncio.sleep(0.01)
    return sum(len(c) for c in chunks) // MiB


@plain.task
async def oom_then_more(mb: int, step_mb: int) -> list[str]:
    """The seeds' pattern: catch OOMError and retry the same task with more memory."""
    try:
        got = await hog(mb, step_mb)
        return ["no oom", str(got)]
    except flyte.errors.OOMError as e:
        got = await hog.override(resources=flyte.Resources(cpu=1, memory="2Gi"))(mb, step_mb)
        return [str(e), str(got)]


# ---- warm replicas and module state -----------------------------------------------------------------
@reusable.task
async def whoami() -> list[int]:
    CALLS.append(1)
    return [os.getpid(), len(CALLS)]


@plain.task
async def call_whoami(n: int) -> list[list[int]]:
    return [await whoami() for _ in range(n)]


@concurrent_env.task
async def nap(s: float) -> list[float]:
    t0 = time.time()
    await asyncio.sleep(s)
    return [float(os.getpid()), t0, time.time()]


@concurrent_env.task
async def fan_in_own_env(n: int) -> list[float]:
    """A parent on a replica whose children use the same reusable environment."""
    return [r[0] for r in await asyncio.gather(*(nap(0.05 * (i + 1)) for i in range(n)))]


@ttl_env.task
async def ttl_pid() -> int:
    return os.getpid()


@plain.task
async def ttl_twice(gap: float) -> list[int]:
    a = await ttl_pid()
    await asyncio.sleep(gap)
    return [a, await ttl_pid()]


# ---- crashes ----------------------------------------------------------------------------------------
@limited.task(retries=0)
async def die_once(marker: str) -> int:
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return os.getpid()


@limited.task(retries=0)
async def always_die() -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return 0


@limited.task
def wait_to_be_killed(pidfile: str) -> int:
    """Writes its PID; the test kills it; the retry (no pidfile write-once) returns."""
    if not os.path.exists(pidfile):
        with open(pidfile + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(pidfile + ".tmp", pidfile)
        time.sleep(30)
    return os.getpid()


@plain.task
async def crash_survivor(marker: str) -> list[str]:
    first = await die_once(marker)
    try:
        await always_die()
        second = "no crash?"
    except flyte.errors.WorkerCrashedError as e:
        second = f"{type(e).__name__}: {e}"
    return [str(first), second, str(await hog(1, 1))]


@limited.task(retries=2)
async def flaky_same_worker() -> list[int]:
    """Fails twice; the retries land on the same warm worker (module state survives)."""
    CALLS.append(os.getpid())
    if len(CALLS) < 3:
        raise ValueError(f"attempt {len(CALLS)}")
    return CALLS


@limited.task
async def raises() -> int:
    raise KeyError("missing thing")


# ---- CPU --------------------------------------------------------------------------------------------
def spin(n: int) -> int:
    s = 0
    for i in range(n):
        s += i * i % 7
    return s


@limited.task
def cpu_bound(n: int) -> list[float]:
    """[pid, start, end] of a pure-Python loop."""
    t0 = time.time()
    spin(n)
    return [float(os.getpid()), t0, time.time()]


@plain.task
async def cpu_race(n: int, rounds: int) -> list[list[float]]:
    """Per round on warm workers: [sequential s, parallel s, overlap s, distinct pids]."""
    await asyncio.gather(cpu_bound.aio(1000), cpu_bound.aio(1000))  # start two warm workers
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        await cpu_bound.aio(n)
        await cpu_bound.aio(n)
        t1 = time.perf_counter()
        (pa, a0, a1), (pb, b0, b1) = await asyncio.gather(cpu_bound.aio(n), cpu_bound.aio(n))
        out.append([t1 - t0, time.perf_counter() - t1, min(a1, b1) - max(a0, b0), float(pa != pb)])
    return out


@limited.task
def sleeper(s: float) -> list[float]:
    t0 = time.time()
    time.sleep(s)
    return [t0, time.time()]


@plain.task
async def two_sleepers(s: float) -> list[list[float]]:
    return list(await asyncio.gather(sleeper.aio(s), sleeper.aio(s)))


@limited.task(timeout=0.5)
def too_slow() -> int:
    time.sleep(20)
    return 0


# ---- values -----------------------------------------------------------------------------------------
@limited.task
async def echo_bytes(data: bytes) -> bytes:
    return data[::-1]


VALUE_SHAPES: list[object] = [
    ("v", 1),  # looks like the tag of a value that travels as itself: must come back as this tuple
    ("ref", "file:///no/such/object"),  # looks like a reference into the store
    b"\x00bytes",
    "x" * (70 * 1024),  # above wire.INLINE_TEXT: its own pickle
    {"a": 1, "b": "two", "c": None},
    {"big": b"y" * (70 * 1024)},
    [1, 2.5, "three"],
    (1, (2, 3)),  # a tuple inside: not "plain", cloudpickle's path
    None,
    True,
]


@limited.task
async def echo_any(value: object, twice: bool = False) -> object:
    return (value, value) if twice else value


@plain.task
async def echo_shapes() -> list[str]:
    """Every shape through a worker and back, as inputs and as output; the mismatches, as text."""
    bad = []
    for v in VALUE_SHAPES:
        got = await echo_any(v)
        if type(got) is not type(v) or got != v:
            bad.append(f"{v!r:.60} came back as {got!r:.60}")
        both = await echo_any(value=v, twice=True)
        if both != (v, v) or type(both[0]) is not type(v):
            bad.append(f"{v!r:.60} (twice) came back as {both!r:.60}")
    return bad


@limited.task
async def task_aware(n: int) -> list[bool]:
    """What an async body may ask of its task before it first waits (its first step runs from the
    worker's read callback): it is the current task, and timeouts and task groups work."""
    me = asyncio.current_task()
    seen = [me is not None]
    async with asyncio.timeout(5):
        seen.append(asyncio.current_task() is me)
    async with asyncio.TaskGroup() as tg:
        inner = tg.create_task(asyncio.sleep(0, result=n))
    seen.append(inner.result() == n)
    return seen


@flyte.trace
async def traced_double(x: int) -> int:
    return 2 * x


@limited.task
def sync_parent(n: int) -> int:
    """A sync task in a worker calling children (through the controller) and a trace."""
    return sum(child_square(i) for i in range(n))


@plain.task
def child_square(i: int) -> int:
    return i * i


@limited.task
async def traced_parent(x: int) -> int:
    return await traced_double(x) + await child_square.aio(x)


# ---- GPUs -------------------------------------------------------------------------------------------
@t4.task
async def visible_t4(s: float) -> list[str]:
    t0 = time.time()
    await asyncio.sleep(s)
    dev = os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")
    print(f"CUDA_VISIBLE_DEVICES={dev}")
    return [dev, str(t0), str(time.time())]


@a100x2.task
async def visible_a100() -> str:
    return os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")


@h100.task
async def visible_h100() -> str:
    return os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")


@mig.task
async def visible_mig() -> str:
    return os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")


@plain.task
async def three_t4(s: float) -> list[list[str]]:
    return list(await asyncio.gather(visible_t4(s), visible_t4(s), visible_t4(s)))


@plain.task
async def fail_fast() -> int:
    """A failing sibling aborts a long async action running on a replica (cancelled in place)."""
    out = await asyncio.gather(nap(20.0), raises())
    return len(out)


# ---- per-environment isolation ---------------------------------------------------------------------
@in_process_env.task
async def pid_in_process() -> int:
    return os.getpid()


@inline_env.task
async def pid_inline() -> int:
    return os.getpid()


@plain.task
async def pids_by_env() -> list[int]:
    return [await pid_in_process(), await pid_inline()]


# ---- the controller protocol (test_controller_api.py) ------------------------------------------------
def _controller_seen() -> tuple[str, list[str]]:
    """The class of the current action's controller and the ControllerAPI members it lacks."""
    from flyte._context import current_action
    from flyte._runtime.controller_api import ControllerAPI

    ac = current_action.get()
    assert ac is not None
    names = [n for n in vars(ControllerAPI) if not n.startswith("_")]
    return type(ac.controller).__name__, [n for n in names if not hasattr(ac.controller, n)]


@in_process_env.task
async def controller_in_worker() -> tuple[str, list[str]]:
    return _controller_seen()


@inline_env.task
async def controller_inline() -> tuple[str, list[str]]:
    return _controller_seen()


@flyte.trace
def traced_inc(x: int) -> int:
    return x + 1


@in_process_env.task
async def grouped_parent(x: int) -> list[object]:
    """In a worker: a child task and traces inside a ``flyte.group``, and ``flyte.ctx()``."""
    with flyte.group("squares"):
        sq = await child_square.aio(x)
        doubled = await traced_double(sq)
    inc = traced_inc(doubled)  # a sync trace called on the worker's loop thread
    return [sq, doubled, inc, os.getpid(), flyte.ctx().run_name, flyte.ctx().group]


# ---- shutdown (issue 24) -------------------------------------------------------------------------------
@limited.task
def hang_in_worker(pidfile: str) -> int:
    """Writes its PID, then blocks (in the worker's task thread) in a call no stop message interrupts."""
    with open(pidfile + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(pidfile + ".tmp", pidfile)
    time.sleep(120)
    return 0


@plain.task
async def fail_while_a_worker_hangs(pidfile: str, stampfile: str) -> int:
    """Fails while its child blocks in a worker process: the run ends with that worker busy."""
    child = asyncio.ensure_future(hang_in_worker.aio(pidfile))
    while not os.path.exists(pidfile):  # the child runs in its worker now
        if child.done():
            return child.result()
        await asyncio.sleep(0.01)
    with open(stampfile, "w") as f:
        f.write(repr(time.time()))
    raise ValueError("the parent gives up")
