# covers: deploy (dry_run, version), errors.InitializationError, is_control_plane_available, init(root_dir=...)
# expect-source: anchor
# expect-exit: 0
# expect: {"control_plane": false}
# expect: {"deploy": "InitializationError"}
# expect: {"out": 3}
# ours-differs: deploy records the environments' tasks in the local store (there is no control plane to refuse it)
# ours-expect-exit: 0
# ours-expect: {"control_plane": false}
# ours-expect: {"deploy": "deployed"}
# ours-expect: {"out": 3}
"""Deploying needs a control plane: after a local-only init, deploy fails with InitializationError."""

import json
from pathlib import Path

import flyte
import flyte.errors

worker = flyte.TaskEnvironment(name="dep_worker")
main_env = flyte.TaskEnvironment(name="dep_main", depends_on=[worker])


@worker.task
async def leaf(x: int) -> int:
    return x


@main_env.task
async def root(x: int) -> int:
    return await leaf(x)


if __name__ == "__main__":
    flyte.init(root_dir=Path(__file__).parent)
    print("RESULT " + json.dumps({"control_plane": flyte.is_control_plane_available()}))
    try:
        flyte.deploy(main_env, dry_run=True, version="v-test")
        outcome = "deployed"
    except flyte.errors.InitializationError:
        outcome = "InitializationError"
    print("RESULT " + json.dumps({"deploy": outcome}))
    print("RESULT " + json.dumps({"out": flyte.run(root, x=3).outputs()[0]}))
