"""The short paths of an inline call and a cache hit (issue 20) give what the general code gives: a
one-input call's stored bytes and hash, the cache key (its formula written here with plain
``hashlib``), and a hit's decoded output, which is kept only when it cannot be changed by the caller."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import flyte
import pytest
from flyte._runtime import codec as codec_mod
from flyte._runtime.codec import BIG_TEXT, InterfaceCodec
from flyte._runtime.identity import cache_key, cache_version
from flyte.errors import RuntimeDataValidationError

env = flyte.TaskEnvironment(name="hitpaths")
RUNS: list[float] = []


@env.task(cache="auto")
async def halve(x: float) -> float:
    RUNS.append(x)
    return x / 2


@env.task
async def count(n: int) -> int:
    return n


@env.task
async def halves(a: float, b: int) -> float:
    return await halve(a) + await halve(b)  # b: an int for a float input, coerced as before


def _general(codec: InterfaceCodec, value: Any) -> tuple[dict[str, Any], bytes, str]:
    """What bind, validate_inputs and encode_inputs_lazy make of one positional input."""
    name = next(iter(codec.inputs))
    values = {name: value}
    codec.validate_inputs(values, check_paths=False)
    data, hashed = codec.encode_inputs_lazy(values)
    return values, bytes(data), hashed


def _plain(values: dict[str, Any]) -> tuple[bytes, str]:
    text = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
    return b"J" + text, hashlib.blake2b(text, digest_size=16).hexdigest()


@pytest.mark.parametrize(
    "name, hint, value",
    [
        ("x", int, 0),
        ("x", int, -(10**40)),
        ("n_2", str, ""),
        ("s", str, 'quote " back \\ nl \n tab \t bell \x07 é ü 漢 \U0001f600'),
        ("ñame", str, "x"),
        ("f", float, 0.1),
        ("f", float, -0.0),
        ("f", float, 1e300),
        ("b", bool, True),
        ("b", bool, False),
    ],
)
def test_one_input_same_as_the_general_path(name: str, hint: Any, value: Any) -> None:
    codec = InterfaceCodec("t", {name: (hint, None)}, int)
    got = codec.encode_one(value)
    assert got is not None
    values, data, hashed = got
    assert (values, data, hashed) == _general(codec, value)
    assert (data, hashed) == _plain({name: value})
    assert type(values[name]) is type(value)


class _Int(int):
    pass


@pytest.mark.parametrize(
    "hint, value",
    [
        (float, 3),  # coerced to 3.0 by validate_inputs
        (int, True),  # rejected by validate_inputs
        (int, _Int(4)),  # a subclass: validated the long way
        (int, 2.0),
        (float, float("inf")),
        (float, float("nan")),
        (str, "a" * BIG_TEXT),  # long text: the lazy parts path
    ],
)
def test_one_input_leaves_the_rest_to_the_general_path(hint: Any, value: Any) -> None:
    assert InterfaceCodec("t", {"x": (hint, None)}, int).encode_one(value) is None


def test_only_single_primitive_inputs_take_it() -> None:
    assert InterfaceCodec("t", {"a": (int, None), "b": (int, None)}, int).encode_one(1) is None
    assert InterfaceCodec("t", {"a": (list[int], None)}, int).encode_one([1]) is None
    assert InterfaceCodec("t", {}, int).encode_one(1) is None


def test_calls_in_a_run_keep_coercion_and_rejection(flyte_home: Path) -> None:
    RUNS.clear()
    r = flyte.run(halves, a=3.0, b=3)
    assert r.outputs()[0] == 3.0
    assert RUNS == [3.0]  # halve(3) hit halve(3.0)'s entry: the same inputs, the same key
    with pytest.raises(RuntimeDataValidationError, match="n"):
        flyte.run(count, n=True)  # type: ignore[arg-type]


def test_cache_key_formula_and_a_new_cache_object(flyte_home: Path) -> None:
    tmpl: Any = halve
    codec = InterfaceCodec("t", {"x": (float, None)}, float)
    _, _, hashed = _general(codec, 1.5)
    name_iface, version = cache_version(tmpl)

    def formula(salt: str) -> str:
        text = f"{name_iface}|{hashed}|{version}|{salt}"
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()

    assert cache_key(tmpl, codec, {"x": 1.5}, hashed) == formula("")
    old = tmpl.cache
    try:
        tmpl.cache = flyte.Cache(behavior="auto", salt="pepper")  # the key's parts follow the Cache
        assert cache_key(tmpl, codec, {"x": 1.5}, hashed) == formula("pepper")
    finally:
        tmpl.cache = old
    assert cache_key(tmpl, codec, {"x": 1.5}, hashed) == formula("")


def test_decoded_outputs_kept_only_when_immutable() -> None:
    codec = InterfaceCodec("t", {}, int)
    assert codec.decode_cached(b"J12") == 12
    assert codec.decoded == {b"J12": 12}
    first = codec.decode_cached(b"J[1,2]")  # not what an int task stores, but never kept
    first.append(3)
    assert codec.decode_cached(b"J[1,2]") == [1, 2]
    assert b"J[1,2]" not in (codec.decoded or {})
    big = b'J"' + b"a" * codec_mod.DECODED_BYTES + b'"'
    texts = InterfaceCodec("t", {}, str)
    assert texts.decode_cached(big) == "a" * codec_mod.DECODED_BYTES
    assert texts.decoded == {}  # too long to keep
    listed = InterfaceCodec("t", {}, list[int])
    assert listed.decoded is None  # a mutable output type: decoded afresh every time
    a = listed.decode_cached(b"J[1]")
    a.append(2)
    assert listed.decode_cached(b"J[1]") == [1]


def test_decoded_outputs_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec_mod, "DECODED_ENTRIES", 4)
    codec = InterfaceCodec("t", {}, int)
    for i in range(10):
        assert codec.decode_cached(b"J%d" % i) == i
        assert len(codec.decoded or {}) <= 4


@pytest.mark.parametrize("hint, value", [(int, 0), (int, -(10**40)), (float, 3), (int, True)])
def test_int_outputs_same_bytes_as_json(hint: Any, value: Any) -> None:
    codec = InterfaceCodec("t", {}, hint)
    expected = b"J" + json.dumps(value).encode()
    assert bytes(codec.encode_output_lazy(value)) == expected == codec.encode_output(value)


def test_a_hits_row_is_the_cached_success_row(flyte_home: Path) -> None:
    from flyte._runtime.controller import _Row

    row = _Row("run", "a1", "p", 3, halve, "ident", "grp", b'J{"x":1.0}')
    row.base, row.mode = 2, "process"
    full, short = row.params("SUCCEEDED", 0, b"J0.5", None, cached=1), row.cached(b"J0.5")
    assert type(short) is type(full)
    assert short[:12] + short[13:] == full[:12] + full[13:]  # all but the end time, taken twice
    assert row.started <= short[12] <= full[12] + 1


def test_a_hit_is_recorded_with_its_outputs(flyte_home: Path) -> None:
    from flyte._runtime import reader

    RUNS.clear()
    flyte.with_runcontext(name="hit-cold").run(halves, a=8.0, b=2)
    flyte.with_runcontext(name="hit-warm").run(halves, a=8.0, b=2)
    assert RUNS == [8.0, 2.0]  # the second run's children were hits
    warm = [a for a in reader.list_actions("hit-warm") if a["parent_id"] is not None]
    assert [(a["status"], a["cache_hit"], a["attempts"]) for a in warm] == [("SUCCEEDED", 1, 0)] * 2
    cold = {a["position"]: a for a in reader.list_actions("hit-cold") if a["parent_id"] is not None}
    for a in warm:  # (IDs differ: each run's IDs derive from its name)
        got = reader.get_action("hit-warm", a["action_id"])
        was = reader.get_action("hit-cold", cold[a["position"]]["action_id"])
        assert got is not None and was is not None and got["outputs"] is not None
        assert (got["inputs"], got["outputs"]) == (was["inputs"], was["outputs"])
