"""Image.with_local_v2 / with_local_v2_plugins (the anchor's names): recorded as layers in the spec."""

from __future__ import annotations

import flyte
import pytest
from flyte.errors import InvalidParameterError


def test_local_sdk_and_plugins_are_layers_of_the_image() -> None:
    base = flyte.Image.from_debian_base(name="dev")
    img = base.with_local_v2().with_local_v2_plugins(["flyteplugins-ray", "flyte-plugin-pod"])
    assert img.to_dict()["layers"] == [
        {"kind": "local_packages", "packages": ["flyte-core"]},
        {"kind": "local_packages", "packages": ["flyteplugins-ray", "flyte-plugin-pod"]},
    ]
    assert img.uri != base.uri  # a different image
    assert base.with_local_v2_plugins() is base  # nothing to add
    with pytest.raises(InvalidParameterError, match="plugins"):
        base.with_local_v2_plugins("ray")
