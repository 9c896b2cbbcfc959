"""Bad values that used to be accepted silently fail where the task or environment is defined,
naming the field and the fix (issue 18, point 8)."""

from __future__ import annotations

import flyte
import flyte.errors
import pytest


@pytest.mark.parametrize(
    "image", ["not a valid ref!!", "UPPER/case:tag", "x:y:z", "python:3.12@sha256:short", "a" * 300]
)
def test_malformed_image_references_are_refused(image: str) -> None:
    with pytest.raises(flyte.errors.InvalidParameterError, match=r"invalid image=.*image reference"):
        flyte.TaskEnvironment("badimg", image=image)


@pytest.mark.parametrize(
    "image",
    ["auto", "python:3.12-slim", "ghcr.io/org/app:1.0", "localhost:5000/a/b@sha256:" + "0" * 64, "busybox"],
)
def test_image_references_docker_accepts_are_accepted(image: str) -> None:
    assert flyte.TaskEnvironment("goodimg", image=image).image == image


def test_image_of_the_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="image"):
        flyte.TaskEnvironment("badimg2", image=123)  # type: ignore[arg-type]


def test_short_name_must_be_a_string() -> None:
    env = flyte.TaskEnvironment("shortname")
    with pytest.raises(TypeError, match="short_name"):

        @env.task(short_name=5)  # type: ignore[arg-type]
        def f() -> int:
            return 1


def test_a_task_override_with_a_malformed_image_is_refused() -> None:
    env = flyte.TaskEnvironment("overimg")

    @env.task
    def g() -> int:
        return 1

    with pytest.raises(flyte.errors.InvalidParameterError, match="image"):
        g.override(image="Bad Image")  # type: ignore[call-arg]


def test_plugin_config_no_plugin_handles_is_refused() -> None:
    with pytest.raises(Exception, match="plugin_config"):
        flyte.TaskEnvironment("badcfg", plugin_config=object())
