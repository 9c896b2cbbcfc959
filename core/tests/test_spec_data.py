"""Issue 20: a run records each task's spec without building the pydantic model (no pydantic import
in a run of plain tasks), and the JSON it records is what ``TaskSpec.model_dump_json()`` writes."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import flyte
from flyte._serialization import SerializationContext
from flyte._spec_data import task_spec_json

env = flyte.TaskEnvironment(
    name="spec_data",
    resources=flyte.Resources(cpu=2, memory="1Gi"),
    env_vars={"A": "é"},
)


@dataclass
class Point:
    x: int
    y: float = 0.5


@env.task(cache="auto", retries=2)
async def plain(n: int, s: str = "x", f: float = 1.5, b: bool = True, z: int | None = None) -> str:
    return s * n


@env.task
async def typed(p: Point, items: list[int]) -> dict[str, float]:
    return {"x": float(p.x)}


def test_same_json_as_the_model() -> None:
    for t in (plain, typed):
        assert task_spec_json(t, SerializationContext()) == t.spec().model_dump_json()


def test_a_run_of_plain_tasks_does_not_import_pydantic(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code = (
        "import sys, flyte\n"
        "env = flyte.TaskEnvironment(name='nopyd')\n"
        "@env.task\n"
        "async def child(x: int) -> int:\n"
        "    return x + 1\n"
        "@env.task\n"
        "async def main(n: int) -> int:\n"
        "    return await child(n)\n"
        "assert flyte.run(main, n=1).outputs()[0] == 2\n"
        "print('pydantic' in sys.modules)\n"
    )
    env_vars = {"FLYTE_HOME": str(tmp_path), "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env_vars, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
