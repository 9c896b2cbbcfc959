# covers: PodTemplate, Documentation, TaskEnvironment(pod_template=..., interruptible, description), task(docs=...)
# expect-source: anchor
# expect-exit: 0
# expect: {"labels": {"team": "ml"}, "primary": "main"}
# expect: {"out": 16}
"""A pod template and other cluster-only settings are accepted and ignored by local runs."""

import json

import flyte

pt = flyte.PodTemplate(primary_container_name="main", labels={"team": "ml"}, annotations={"a": "b"})
env = flyte.TaskEnvironment(
    name="podtpl", pod_template=pt, interruptible=True, description="with a pod template"
)


@env.task(docs=flyte.Documentation(description="doubles its input"))
async def twice(x: int) -> int:
    """Double x."""
    return 2 * x


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"labels": pt.labels, "primary": pt.primary_container_name}))
    print("RESULT " + json.dumps({"out": flyte.run(twice, x=8).outputs()[0]}))
