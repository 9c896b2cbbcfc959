"""The per-action fast paths of process mode (issue 20) change no bytes on the wire or in a store.

Plain values skip cloudpickle's pickler, and pickles are signed with a keyed HMAC state made once per
key: a worker of an older flyte must read what this one writes, and signatures written before must
still verify.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import pickle
from typing import Any

import pytest
from flyte._runtime import codec
from flyte._runtime.placement import wire


def _cloudpickled(obj: Any) -> bytes:
    buf = io.BytesIO()
    wire._Pickler(buf, protocol=5).dump(obj)
    return buf.getvalue()


@pytest.mark.parametrize(
    "value",
    [
        0,
        -(2**70),
        1.5,
        "text ü",
        b"\x00\xff" * 100,
        True,
        None,
        {"x": 5, "name": "a", "ratio": 0.5, "blob": b"1", "none": None},
        (1, "two", 3.0),
        [1, 2, 3],
        {},
        (),
    ],
)
def test_plain_values_pickle_to_the_same_bytes_as_cloudpickle(value: Any) -> None:
    assert wire._plain(value)
    data = wire.dumps(value)
    assert data == _cloudpickled(value)
    assert wire.loads(data) == value


class _Custom:
    def __init__(self, n: int) -> None:
        self.n = n


@pytest.mark.parametrize(
    "value",
    [
        {"nested": {"x": 1}},  # a dict inside: cloudpickle's path
        [[1], [2]],
        {1: "int key"},
        (_Custom(3),),
        {f"k{i}": i for i in range(65)},  # past the size checked cheaply
        True.__class__,  # a class by reference
    ],
)
def test_other_values_still_go_through_cloudpickle(value: Any) -> None:
    assert not wire._plain(value)
    back = wire.loads(wire.dumps(value))
    if isinstance(value, tuple):
        assert isinstance(back[0], _Custom) and back[0].n == 3
    else:
        assert back == value


def test_a_function_defined_in_a_test_still_travels_by_value() -> None:
    def local(x: int) -> int:
        return x * 2

    assert wire.loads(wire.dumps({"f": local}))["f"](4) == 8


def test_signatures_are_the_plain_hmac_of_the_domain_and_body(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(codec.PICKLE_KEY_ENV, "k" * 43)
    key = codec.pickle_key()
    for body in (b"", b"x", pickle.dumps({"a": 1}), b"y" * (1 << 20)):
        signed = codec.sign_pickle(body)
        expected_mac = hmac.new(key, codec._SIG_DOMAIN + body, hashlib.sha256).digest()
        expected_kid = hashlib.sha256(b"flyte-pickle-key-id\0" + key).digest()[:4]
        assert signed == codec.SIG_MAGIC + expected_kid + expected_mac + body
        assert codec.verify_pickle(signed) == body
        assert codec.sign_pickle(body) == signed  # the cached keyed state is not consumed


def test_a_signature_under_another_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(codec.PICKLE_KEY_ENV, "first-key-" + "a" * 33)
    signed = codec.sign_pickle(b"payload")
    monkeypatch.setenv(codec.PICKLE_KEY_ENV, "second-key-" + "b" * 32)
    with pytest.raises(codec.UntrustedPickleError):
        codec.verify_pickle(signed)
    tampered = signed[:-1] + b"X"
    monkeypatch.setenv(codec.PICKLE_KEY_ENV, "first-key-" + "a" * 33)
    with pytest.raises(codec.UntrustedPickleError):
        codec.verify_pickle(tampered)
