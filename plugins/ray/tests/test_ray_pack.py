"""What the supervisor passes on unopened: a child's spec and result, pickled once at each end."""

from __future__ import annotations

import pickle

import pytest
from flyteplugins.ray._remote import pack, unpack


def test_plain_values_travel_as_bytes_and_come_back_equal() -> None:
    spec = {"action_id": "a1", "tmpl": b"\x00\x01", "sys_path": ["/x", "/y"], "env": {"K": "v"}}
    packed = pack((spec, "flyte-channel-1"))
    assert isinstance(packed, bytes)
    assert unpack(packed) == (spec, "flyte-channel-1")
    assert unpack(pack([(1, "ok", pack((True, {"o0": 4})))])) == [(1, "ok", pack((True, {"o0": 4})))]


def test_what_plain_pickle_refuses_travels_as_it_is() -> None:
    value = (True, lambda: 1)  # Ray's own serializer (cloudpickle) takes it on the hop
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(value)
    assert pack(value) is value
    assert unpack(value) is value
