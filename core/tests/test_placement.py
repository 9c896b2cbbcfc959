"""The placement contract: every mode a run can pick is one ``Placement`` (name, run, close), and a
bad ``isolation`` is refused the same way wherever it is set."""

from __future__ import annotations

import flyte
import pytest
from flyte._runtime.placement import MODES, Workers
from flyte.errors import InvalidParameterError

env = flyte.TaskEnvironment(name="placement_demo")


@env.task
async def double(x: int) -> int:
    return 2 * x


@env.task
async def fan(n: int) -> list[int]:
    return [await double(i) for i in range(n)]


def test_each_mode_is_one_placement_named_after_it() -> None:
    workers = Workers(None, forced=None, max_cpus=None)  # type: ignore[arg-type]
    for mode in MODES:
        place = workers.placement(mode)
        assert place.name == mode
        assert workers.placement(mode) is place  # made once per run
    workers.close()  # nothing was started: closing is a no-op


@pytest.mark.parametrize("isolation", ["inline", "process"])
def test_a_run_gives_the_same_answer_in_every_local_placement(isolation: str) -> None:
    run = flyte.with_runcontext(isolation=isolation).run(fan, n=4)
    assert run.outputs()[0] == [0, 2, 4, 6]


def test_bad_isolation_is_refused_alike_wherever_it_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidParameterError, match="isolation") as on_env:
        flyte.TaskEnvironment(name="placement_bad", isolation="vm")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="isolation") as on_run:
        flyte.with_runcontext(isolation="vm")
    monkeypatch.setenv("FLYTE_ISOLATION", "vm")
    with pytest.raises(InvalidParameterError, match="isolation") as on_var:
        flyte.run(fan, n=1)
    for err in (on_env.value, on_run.value, on_var.value):
        assert "'inline'" in str(err) and "'process'" in str(err) and "'container'" in str(err)


def test_this_machine_is_no_registered_executor() -> None:
    from flyte._plugins.manager import load_plugins

    state = load_plugins(reload=True)
    assert "local" not in state.executors.factories
    assert all("local" not in info.executors for info in state.plugins.values())  # `flyte plugins`
    flyte.init(executor="local")
    assert flyte.run(fan, n=2).outputs()[0] == [0, 2]
    flyte.init(executor="local+gpu")  # the form passes; at run it is refused with the fix
    with pytest.raises(InvalidParameterError, match="Use 'local' alone"):
        flyte.run(fan, n=2)
