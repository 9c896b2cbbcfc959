# covers: Image.from_debian_base, Image.from_base, with_pip_packages, with_apt_packages, with_env_vars, with_commands, with_workdir
# expect-source: anchor
# expect-exit: 0
# expect: {"is_image": true, "same": false}
# expect: {"base_uri": "python:3.11-slim"}
# expect: {"out": ["a", "b"]}
"""Images described with the builder API (nothing is built in local runs)."""

import json

import flyte

base = flyte.Image.from_debian_base(python_version=(3, 11))
image = (
    base.with_apt_packages("git", "curl")
    .with_pip_packages("requests>=2", "numpy")
    .with_env_vars({"MODE": "test"})
    .with_commands(["echo ready"])
    .with_workdir("/app")
)
plain = flyte.Image.from_base("python:3.11-slim")
env = flyte.TaskEnvironment(name="images", image=image)
env_plain = flyte.TaskEnvironment(name="images_plain", image=plain)


@env.task
async def a() -> str:
    return "a"


@env_plain.task
async def b() -> str:
    return "b"


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"is_image": isinstance(image, flyte.Image), "same": image is base}))
    print("RESULT " + json.dumps({"base_uri": plain.uri}))
    print("RESULT " + json.dumps({"out": [flyte.run(a).outputs()[0], flyte.run(b).outputs()[0]]}))
