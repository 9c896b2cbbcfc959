"""Steps recorded in the journal inside a task (traces, durable clock/sleep) and replayed on recovery."""

from __future__ import annotations

import time
from typing import Any

from flyte._context import ActionContext
from flyte._runtime.codec import (
    PICKLE_TAG,
    ValueCodec,
    _pickle,
    decode_value,
    digest,
    encode_value,
    sign_pickle,
)
from flyte._runtime.controller import FAILED, SUCCEEDED
from flyte._runtime.errors_bridge import error_record
from flyte._runtime.identity import step_identity
from flyte._runtime.journal import ActionRow

_ANY = ValueCodec(Any)


def step_id(ac: ActionContext, kind: str, name: str, inputs_hash: str) -> tuple[str, int]:
    """(ID, position) of the next recorded step; on recovery, checks the parent still does the same."""
    aid, pos = ac.action.child_key(step_identity(kind, name), inputs_hash)
    c = ac.controller
    if c.recovering and c.recorded_action(aid) is None:
        prev = c.recorded_position(ac.action.action_id, pos)
        if prev is not None and prev != name:
            from flyte.errors import NonDeterminismError

            raise NonDeterminismError(
                f"Non-deterministic parent {ac.action.task_name!r}: call #{pos} was {prev!r} when this run "
                f"was first executed, but is now {kind} {name!r}. A recovered run must make the same calls "
                "in the same order; start a new run instead of recovering this one."
            )
    return aid, pos


def replayed(ac: ActionContext, action_id: str, identity: str | None = None) -> tuple[bool, Any]:
    """(True, value) when an earlier execution recorded this step as succeeded (with the same code)."""
    rec = ac.controller.recorded_action(action_id)
    if (
        rec is not None
        and rec.status == SUCCEEDED
        and rec.outputs is not None
        and (identity is None or rec.identity is None or rec.identity == identity)
    ):
        if ac.controller.recovered_from is not None:
            ac.controller.copy_recovered(action_id)
        return True, decode_value(_ANY, ac.controller.load_value(rec.outputs))
    return False, None


async def record(
    ac: ActionContext,
    action_id: str,
    position: int,
    kind: str,
    name: str,
    inputs: bytes,
    value: Any,
    started: float,
    error: BaseException | None = None,
    identity: str | None = None,
) -> None:
    """Durably record a step's result (or error) before the caller continues."""
    params = row_params(ac, action_id, position, kind, name, inputs, value, started, error, identity)
    await ac.controller.journal.action_finished(params)


def row_params(
    ac: ActionContext,
    action_id: str,
    position: int,
    kind: str,
    name: str,
    inputs: bytes,
    value: Any,
    started: float,
    error: BaseException | None = None,
    identity: str | None = None,
) -> ActionRow:
    """The actions-table row of a recorded step."""
    c = ac.controller
    outputs = None
    if error is None:
        try:
            enc = encode_value(_ANY, value)
        except Exception:
            enc = PICKLE_TAG + sign_pickle(_pickle(value))
        outputs = c.store_value(action_id, "outputs", enc)
    return ActionRow(
        c.run_name,
        action_id,
        ac.action.action_id,
        position,
        kind,
        name,
        identity or kind + ":" + name,
        kind,
        SUCCEEDED if error is None else FAILED,
        1,
        0,
        started,
        time.time(),
        inputs,
        outputs,
        None if error is None else error_record(error),
        ac.group,
        "inline",
        None,
    )


def code_identity(kind: str, name: str, func: Any) -> str:
    """``kind:name:<hash of the function's source>``: an edited trace is run again on recovery."""
    import inspect

    try:
        src = inspect.getsource(func)
    except (OSError, TypeError):
        code = getattr(func, "__code__", None)
        src = repr(code.co_code) if code is not None else name
    return f"{kind}:{name}:{digest(src)[:16]}"


def hash_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[bytes, str]:
    """Best-effort canonical encoding of a traced call's arguments."""
    from flyte._runtime.codec import _dumps

    try:
        from pydantic_core import to_jsonable_python

        text = _dumps({"args": to_jsonable_python(list(args)), "kwargs": to_jsonable_python(kwargs)})
        return b"J" + text.encode(), digest(text)
    except Exception:
        data = _pickle((args, kwargs))
        return PICKLE_TAG + data, digest(data)
