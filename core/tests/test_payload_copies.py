"""Issue 20: a long text passed to a child is written into its JSON form with one copy, and the
bytes are exactly what the JSON encoder writes (so action IDs and cache keys do not change)."""

from __future__ import annotations

import pytest
from flyte._runtime import codec

B = codec.BIG_TEXT


@pytest.mark.parametrize(
    "value",
    [
        "a" * B,
        "é" * B,
        "😀" * B,
        "a" * (B - 1),
        "a" * B + '"',
        "a" * B + "\\",
        "a" * (B + 5) + "\n",
        "\x00" + "a" * B,
        "a" * (3 * B) + "\x1f",
        "x" * (2 * B + 7),
        5,
        1.5,
        None,
        True,
        "short",
    ],
)
def test_same_bytes_as_the_json_encoder(value: object) -> None:
    assert codec.prim_json_bytes(value) == codec.JSON_TAG + codec._prim_dumps(value).encode()
    inputs = {"b": value, "a": 1, "c": "a" * B}
    assert codec.prim_json_bytes(inputs) == codec.JSON_TAG + codec._prim_dumps(inputs).encode()


def test_a_long_text_input_keeps_its_action_hash() -> None:
    """The inputs' stored bytes and their hash are those of the JSON encoder's form."""
    text = "0123456789abcdef" * (4 * B // 16)
    c = codec.InterfaceCodec.__new__(codec.InterfaceCodec)
    c.all_prim = True
    data, digest = codec.InterfaceCodec.encode_inputs(c, {"data": text})
    assert data == codec.JSON_TAG + codec._prim_dumps({"data": text}).encode()
    assert digest == codec.digest(codec._prim_dumps({"data": text}))
