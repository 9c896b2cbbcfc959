# covers: init_from_config (explicit config file, local run), init(project, domain), current_project, current_domain
# expect-source: anchor
# expect-exit: 0
# expect: {"domain": "development", "project": "corpus-project"}
# expect: {"out": "ran"}
# expect: {"domain": "staging", "project": "p2"}
"""init_from_config with a small config file in a temp folder; then runs stay local."""

import json
import os
import tempfile

import flyte

env = flyte.TaskEnvironment(name="from_config")


@env.task
async def where() -> str:
    return "ran"


CONFIG = """\
task:
  project: corpus-project
  domain: development
"""

if __name__ == "__main__":
    path = os.path.join(tempfile.mkdtemp(), "config.yaml")
    with open(path, "w") as fh:
        fh.write(CONFIG)
    flyte.init_from_config(path)
    print("RESULT " + json.dumps({"project": flyte.current_project(), "domain": flyte.current_domain()}))
    run = flyte.with_runcontext(mode="local").run(where)
    print("RESULT " + json.dumps({"out": run.outputs()[0]}))
    flyte.init(project="p2", domain="staging")
    print("RESULT " + json.dumps({"project": flyte.current_project(), "domain": flyte.current_domain()}))
