# covers: run with a wrongly typed input, run with a missing input (errors a user catches)
# expect-source: anchor
# expect-exit: 0
# expect: {"wrong_type": {"type_error": true, "value_error": false}}
# expect: {"missing": {"type_error": false, "value_error": true}}
# expect: {"body_ran": false}
"""Wrong or missing inputs make flyte.run raise before the task body runs."""

import json
import os
import tempfile

import flyte

env = flyte.TaskEnvironment(name="bad_inputs")
MARK = os.path.join(tempfile.gettempdir(), "body-ran")


@env.task
async def add(a: int, b: int) -> int:
    open(MARK, "w").close()
    return a + b


def attempt(*args: object, **kwargs: object) -> dict[str, object]:
    try:
        flyte.run(add, *args, **kwargs)
    except Exception as e:
        return {"type_error": isinstance(e, TypeError), "value_error": isinstance(e, ValueError)}
    return {"raised": False}


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"wrong_type": attempt("x", 2)}, sort_keys=True))
    print("RESULT " + json.dumps({"missing": attempt(1)}, sort_keys=True))
    print("RESULT " + json.dumps({"body_ran": os.path.exists(MARK)}))
