"""The journal tells the truth: outputs come back exactly as produced (first run, cache hit, recovery),
recovery keeps the original run's times as segments, an interrupted run's duration is fixed, every
attempt's error is kept and shown, and CLI mistakes print one line, never a traceback."""

from __future__ import annotations

import dataclasses
import os
import pickle
from pathlib import Path
from typing import Any

import flyte
import pydantic
import pytest

env = flyte.TaskEnvironment(name="run_records")


@dataclasses.dataclass
class Point:
    y: float
    x: int
    tags: tuple[str, ...] = ()


class Model(pydantic.BaseModel):
    b: int
    a: str = "unset"
    c: dict[str, int] = {}


def _values() -> dict[str, Any]:
    return {
        "zebra": {"z": 1, "a": 2, "m": {"y": 1.5, "b": [3, 2, 1]}},
        "ints": {3, 1, 2, 10**30},
        "strs": frozenset({"q", "b", "zz", "a"}),
        "point": Point(y=-0.0, x=10**40, tags=("b", "a")),
        "model": Model(b=2),
        "model_all": Model(b=1, a="x", c={"z": 1, "a": 2}),
        "tuple": (1, "a", 2.5, None),
        "floats": [float("nan"), -0.0, 1e308, float("inf"), 0.1],
        "big": -(10**50),
    }


@env.task(cache="auto")
async def produce_dict(k: str) -> dict[str, Any]:
    return dict(_values()[k]) if isinstance(_values()[k], dict) else {"v": _values()[k]}


@env.task(cache="auto")
async def produce_set(k: str) -> set[int]:
    return set(_values()[k])


@env.task(cache="auto")
async def produce_frozenset(k: str) -> frozenset[str]:
    return frozenset(_values()[k])


@env.task(cache="auto")
async def produce_point(k: str) -> Point:
    return _values()[k]  # type: ignore[no-any-return]


@env.task(cache="auto")
async def produce_model(k: str) -> Model:
    return _values()[k]  # type: ignore[no-any-return]


@env.task(cache="auto")
async def produce_tuple(k: str) -> tuple[int, str, float, None]:
    return _values()[k]  # type: ignore[no-any-return]


@env.task(cache="auto")
async def produce_floats(k: str) -> list[float]:
    return _values()[k]  # type: ignore[no-any-return]


@env.task(cache="auto")
async def produce_int(k: str) -> int:
    return _values()[k]  # type: ignore[no-any-return]


@env.task(cache="auto")
async def produce_any(k: str) -> Any:
    return _values()[k]


def _fast_pickle(v: Any) -> bytes:
    import io

    buf = io.BytesIO()
    p = pickle.Pickler(buf, protocol=5)
    p.fast = True  # no memo: two equal strings pickle the same whether or not they are one object
    p.dump(v)
    return buf.getvalue()


@env.task
async def collect(workdir: str, tag: str) -> int:
    got = [
        await produce_dict("zebra"),
        await produce_set("ints"),
        await produce_frozenset("strs"),
        await produce_point("point"),
        await produce_model("model"),
        await produce_model("model_all"),
        await produce_tuple("tuple"),
        await produce_floats("floats"),
        await produce_int("big"),
        await produce_any("zebra"),
        await produce_any("point"),
        await produce_any("tuple"),
    ]
    # each value pickled alone, its memo off: the bytes say what a value is, not which objects it shares
    Path(workdir, tag).write_bytes(b"\n--\n".join(_fast_pickle(v) for v in got))
    if not os.path.exists(os.path.join(workdir, "go")):
        raise RuntimeError("stop after the children")
    return len(got)


def test_outputs_come_back_exactly_as_produced(tmp_path: Path, flyte_home: Path) -> None:
    with pytest.raises(RuntimeError) as failed:
        flyte.run(collect, workdir=str(tmp_path), tag="first")
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    first = (tmp_path / "first").read_bytes()
    got = [pickle.loads(b) for b in first.split(b"\n--\n")]
    assert list(got[0]) == ["z", "a", "m"] and list(got[0]["m"]) == ["y", "b"]  # not sorted
    assert got[4].model_fields_set == {"b"}
    (tmp_path / "go").touch()
    recovered = flyte.rerun(run.name, recover=True)  # every child replayed from the journal
    assert recovered.status == "SUCCEEDED", recovered.error
    cached = flyte.run(collect, workdir=str(tmp_path), tag="cached")  # a new run: every child a cache hit
    assert cached.outputs()[0] == 12
    # A set of strings iterates in an order that depends on its insertion history (hash collisions),
    # which no round trip (pickle included) keeps: those values (the frozenset, a model's fields_set)
    # are compared as values plus their key/field order; everything else byte for byte.
    loose = {2, 4, 5}
    for tag in ("first", "cached"):
        after = (tmp_path / tag).read_bytes().split(b"\n--\n")
        for i, (a, b) in enumerate(zip(first.split(b"\n--\n"), after)):
            va, vb = pickle.loads(a), pickle.loads(b)
            if i in loose:
                assert va == vb and type(va) is type(vb), (tag, i, va, vb)
                if isinstance(va, Model):
                    assert va.model_fields_set == vb.model_fields_set
                    assert list(va.c) == list(vb.c)
            else:
                assert a == b, (tag, i, va, vb)
