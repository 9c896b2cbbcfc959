"""The short paths for primitive inputs and outputs (issue 20) give the same bytes and hashes as the
general formulas: stored JSON in call order, hash of the sorted-key JSON. Written here with plain
``json`` and ``hashlib`` so a drift in either path fails."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from flyte._runtime.codec import InterfaceCodec
from flyte.errors import RuntimeDataValidationError


def _expected(values: dict[str, Any]) -> tuple[bytes, str]:
    stored = b"J" + json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
    canon = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return stored, hashlib.blake2b(canon, digest_size=16).hexdigest()


def _codec(**hints: Any) -> InterfaceCodec:
    return InterfaceCodec("t", {k: (h, None) for k, h in hints.items()}, int)


@pytest.mark.parametrize(
    "hints, values",
    [
        ({"x": int}, {"x": 5}),
        ({"a": int, "b": str}, {"a": -3, "b": 'héllo "q" \n'}),
        ({"b": str, "a": float}, {"b": "z", "a": 2.5}),  # keys out of order: hashed sorted
        ({"z": bool, "y": int, "x": str}, {"z": True, "y": 0, "x": ""}),
        ({"f": float}, {"f": float("inf")}),
    ],
)
def test_inputs_same_bytes_and_hash(hints: dict[str, Any], values: dict[str, Any]) -> None:
    codec = _codec(**hints)
    assert codec.encode_inputs(values) == _expected(values)
    data, hashed = codec.encode_inputs_lazy(values)
    assert (bytes(data), hashed) == _expected(values)


def test_int_for_float_is_coerced_and_bool_for_int_rejected() -> None:
    codec = _codec(n=int, f=float)
    values: dict[str, Any] = {"n": 1, "f": 3}
    codec.validate_inputs(values, check_paths=False)
    assert values == {"n": 1, "f": 3.0} and type(values["f"]) is float
    with pytest.raises(RuntimeDataValidationError, match="n"):
        codec.validate_inputs({"n": True, "f": 1.0}, check_paths=False)
    with pytest.raises(RuntimeDataValidationError, match="f"):
        codec.validate_inputs({"n": 1, "f": "x"}, check_paths=False)


@pytest.mark.parametrize(
    "hint, value",
    [(int, 7), (int, -(10**30)), (float, 0.1), (bool, False), (bool, True), (str, "ü"), (float, 2)],
)
def test_output_same_bytes(hint: Any, value: Any) -> None:
    codec = InterfaceCodec("t", {}, hint)
    assert codec.validate_output(value) == value
    expected = b"J" + json.dumps(value, ensure_ascii=False).encode()
    assert bytes(codec.encode_output_lazy(value)) == expected == codec.encode_output(value)
    with pytest.raises(RuntimeDataValidationError):
        codec.validate_output([value])


@pytest.mark.parametrize("value", [0, 7, -1, 10**18, -(10**40), 2**63])
@pytest.mark.parametrize("name", ["i", "n_2", "ünï"])
def test_one_int_input_written_without_the_encoder_same_bytes(name: str, value: int) -> None:
    """A fan-out child's usual inputs ({"i": 3}) are written by hand (issue 20): same bytes, same hash."""
    codec = _codec(**{name: int})
    assert codec.encode_inputs({name: value}) == _expected({name: value})
    data, hashed = codec.encode_inputs_lazy({name: value})
    assert (bytes(data), hashed) == _expected({name: value})


@pytest.mark.parametrize("name", ['a"b', "a\\b", "a\nb", "tab\there"])
def test_one_int_input_whose_name_needs_escaping_same_bytes(name: str) -> None:
    codec = _codec(**{name: int})
    assert codec.encode_inputs({name: 4}) == _expected({name: 4})
