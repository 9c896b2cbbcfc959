"""Steps recorded in the journal inside a task (traces, durable clock/sleep) and replayed on recovery."""

from __future__ import annotations

import time
from typing import Any

from flyte._context import ActionContext
from flyte._runtime.codec import PICKLE_TAG, ValueCodec, _pickle, decode_value, digest, encode_value
from flyte._runtime.controller import SUCCEEDED, FAILED
from flyte._runtime.errors_bridge import error_record
from flyte._runtime.journal import UPSERT_ACTION

_ANY = ValueCodec(Any)


def step_id(ac: ActionContext, kind: str, name: str, inputs_hash: str) -> tuple[str, int]:
    return ac.action.child_key(f"{kind}:{name}", inputs_hash)


def replayed(ac: ActionContext, action_id: str) -> tuple[bool, Any]:
    """(True, value) when an earlier execution recorded this step as succeeded."""
    rec = ac.controller.recorded.get(action_id)
    if rec is not None and rec.status == SUCCEEDED and rec.outputs is not None:
        return True, decode_value(_ANY, ac.controller._load(rec.outputs))
    return False, None


async def record(
    ac: ActionContext, action_id: str, position: int, kind: str, name: str, inputs: bytes, value: Any,
    started: float, error: BaseException | None = None,
) -> None:
    """Durably record a step's result (or error) before the caller continues."""
    c = ac.controller
    parent = ac.action
    outputs = None
    if error is None:
        try:
            enc = encode_value(_ANY, value)
        except Exception:
            enc = PICKLE_TAG + _pickle(value)
        outputs = c._store(action_id, "outputs", enc)
    params = (
        c.run_name, action_id, parent.action_id, position, kind, name, kind + ":" + name, kind,
        SUCCEEDED if error is None else FAILED, 1, 0, started, time.time(), inputs, outputs,
        None if error is None else error_record(error), ac.group, "inline", None,
    )
    await c.journal.write_durable(UPSERT_ACTION, params)


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
