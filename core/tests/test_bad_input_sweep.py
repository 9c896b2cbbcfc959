"""Issue 18 point 11: no public constructor or decorator accepts a bad value silently.

Each row of ``bad_input_table.ROWS`` calls one public callable with one bad value (wrong type, or out
of range) and expects, at definition time, an error of the given type whose message names the
parameter (and, for our ``InvalidParameterError``, the fix). The meta-test makes a new parameter
without a row fail.
"""

from __future__ import annotations

import flyte
import pytest
from bad_input_anchor import ANCHOR_ACCEPTED_ROWS, ANCHOR_RAISES
from bad_input_table import (
    NOT_SWEPT,
    ROWS,
    SWEPT,
    Row,
    public_callables,
    run_row,
    swept_key_of,
    swept_parameters,
)
from flyte.errors import InvalidParameterError

ROWS_BY_ID = {r.id: r for r in ROWS}


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_value_is_refused_with_a_clear_error(row: Row) -> None:
    err = run_row(row)
    assert err is not None, f"{row.callable}({row.param}={row.value!r}) was accepted silently"
    assert isinstance(err, row.exc), f"{row.callable}({row.param}=...) raised {type(err).__name__}: {err}"
    assert row.phrase in str(err), f"message does not name {row.phrase!r}: {err}"
    if row.exc in (TypeError, ValueError):  # ours: the parameter error, naming the parameter and the fix
        assert isinstance(err, InvalidParameterError), f"{type(err).__name__}: {err}"
        assert row.param in err.param, f"error names {err.param!r}, not {row.param!r}"
        assert err.accepted.strip(), f"no fix given: {err}"


def test_every_parameter_of_every_swept_callable_has_a_row() -> None:
    covered = {(r.callable, r.param) for r in ROWS}
    missing = [
        f"{key}({name})"
        for key, swept in SWEPT.items()
        for name in swept_parameters(key)
        if (key, name) not in covered and name not in swept.skip
    ]
    assert not missing, f"parameters without a bad-input row (add one, or a skip with a reason): {missing}"


def test_every_swept_parameter_has_a_wrong_type_row() -> None:
    wrong_type = {(r.callable, r.param) for r in ROWS if issubclass(r.exc, TypeError)}
    missing = [
        f"{key}({name})"
        for key, swept in SWEPT.items()
        for name in swept_parameters(key)
        if name not in swept.skip and (key, name) not in wrong_type
    ]
    assert not missing, missing


def test_rows_name_real_parameters() -> None:
    stale = [r.id for r in ROWS if r.param not in swept_parameters(r.callable)]
    assert not stale, stale


@pytest.mark.parametrize("key", sorted(SWEPT))
def test_the_valid_base_call_is_accepted(key: str) -> None:
    """Each row changes one argument of a valid call, so the error is the bad value's doing."""
    swept = SWEPT[key]
    swept.call(**swept.base())


def test_wrong_types_are_both_type_and_value_errors() -> None:
    """Callers catching either (the anchor raises TypeError, pydantic ValueError) see ours."""
    with pytest.raises(TypeError) as caught:
        flyte.TaskEnvironment(name="sweep-te", pod_template=123)
    assert isinstance(caught.value, ValueError)
    assert "pod_template" in str(caught.value) and "PodTemplate" in str(caught.value)


def test_row_ids_are_unique() -> None:
    ids = [r.id for r in ROWS]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("row_id", sorted(ANCHOR_RAISES))
def test_where_the_anchor_refuses_we_raise_a_compatible_error(row_id: str) -> None:
    row = ROWS_BY_ID[row_id]
    err = run_row(row)
    expected = {"TypeError": TypeError, "ValueError": ValueError}[ANCHOR_RAISES[row_id]]
    assert isinstance(err, expected), f"anchor raised {expected.__name__}; we raised {err!r}"


def test_the_anchor_comparison_is_current() -> None:
    """Recorded anchor results name rows that still exist (re-record when the table changes)."""
    assert set(ANCHOR_RAISES) <= set(ROWS_BY_ID)
    assert 0 < ANCHOR_ACCEPTED_ROWS < len(ROWS)


def test_every_public_constructor_and_function_is_swept_or_excused() -> None:
    """A new public class or function must get a SWEPT entry (and rows) or a reason in NOT_SWEPT."""
    public = public_callables()
    unswept = sorted(n for n, obj in public.items() if swept_key_of(obj) is None and n not in NOT_SWEPT)
    assert not unswept, f"public callables neither swept nor excused: {unswept}"
    stale = sorted(set(NOT_SWEPT) - set(public))
    assert not stale, f"NOT_SWEPT names that are not public (any more): {stale}"
    wrongly_excused = sorted(n for n in NOT_SWEPT if swept_key_of(public[n]) is not None)
    assert not wrongly_excused, wrongly_excused
