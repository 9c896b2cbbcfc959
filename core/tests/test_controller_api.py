"""The controller protocol: a worker's controller is a ``ControllerAPI``, never a ``Controller``.

mypy proves both classes implement the protocol (``worker_main.controller_for`` and every
``ActionContext(...)`` the driver builds are typed with it); these tests check the same at run time,
from inside a real worker process, and that a process-isolated task still calls children, traces and
groups through it.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

import flyte
import pytest
import workers_app as app
from conftest import journal_rows
from flyte._runtime.controller import Controller
from flyte._runtime.controller_api import ControllerAPI
from flyte._runtime.placement.worker_main import RemoteController

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")


def _methods() -> dict[str, Any]:
    return {n: v for n, v in vars(ControllerAPI).items() if not n.startswith("_") and inspect.isfunction(v)}


def test_the_worker_controller_is_not_a_controller_subclass() -> None:
    assert not issubclass(RemoteController, Controller)
    assert RemoteController.__mro__ == (RemoteController, object)
    assert "__init__" in vars(RemoteController)  # its own, real __init__


@pytest.mark.parametrize("cls", [Controller, RemoteController])
def test_both_controllers_have_the_protocols_methods_with_its_parameters(cls: type) -> None:
    methods = _methods()
    assert {"call", "sync_body", "recorded_action", "store_value", "load_value"} <= set(methods)
    for name, proto in methods.items():
        impl = getattr(cls, name, None)
        assert impl is not None, f"{cls.__name__} lacks ControllerAPI.{name}"
        want = [(p.name, p.kind) for p in inspect.signature(proto).parameters.values()]
        got = [(p.name, p.kind) for p in inspect.signature(impl).parameters.values()]
        assert got == want, f"{cls.__name__}.{name}{inspect.signature(impl)} differs from the protocol"


def test_the_current_controller_in_a_worker_and_inline(flyte_home: Path) -> None:
    """Every protocol member (attributes included) exists on the controller a task body sees."""
    assert tuple(flyte.run(app.controller_in_worker).outputs()) == ("RemoteController", [])
    assert tuple(flyte.run(app.controller_inline).outputs()) == ("Controller", [])


def test_process_isolated_task_calls_a_child_traces_and_a_group(flyte_home: Path) -> None:
    run = flyte.run(app.grouped_parent, x=4)
    sq, doubled, inc, pid, run_name, group = run.outputs()[0]
    assert (sq, doubled, inc) == (16, 32, 33)
    assert pid != os.getpid() and run_name == run.name and group is None
    rows = journal_rows(
        flyte_home,
        "SELECT task_name, kind, status, group_name, mode, parent_id, action_id FROM actions WHERE run=?",
        (run.name,),
    )
    by_name = {r["task_name"].rsplit(".", 1)[-1]: r for r in rows}
    parent = by_name["grouped_parent"]
    assert parent["mode"] == "process"
    child, t1, t2 = by_name["child_square"], by_name["traced_double"], by_name["traced_inc"]
    assert [r["parent_id"] for r in (child, t1, t2)] == [parent["action_id"]] * 3
    assert (child["kind"], t1["kind"], t2["kind"]) == ("task", "trace", "trace")
    assert {r["status"] for r in (child, t1, t2)} == {"SUCCEEDED"}
    assert (child["group_name"], t1["group_name"], t2["group_name"]) == ("squares", "squares", None)
