"""The layering rule: SQL that knows the journal's tables lives in the journal modules only.

Every other module of ``core/src/flyte`` asks ``flyte._runtime.journal`` by meaning (``action_started``,
``get_run``, ``list_actions``...); a SQL statement written anywhere else fails this check. Runs as a
test and as a script (``python core/tests/test_journal_layering.py``, the nox lint session): stdlib only.
"""

from __future__ import annotations

import re
import sys
import tokenize
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "flyte"
JOURNAL_MODULES = {
    Path("_runtime/journal.py"),
    Path("_runtime/records.py"),
    Path("_runtime/journal_backend.py"),
    Path("_runtime/journal_migrations.py"),
}
"""Where the journal's SQL lives (relative to ``core/src/flyte``); ``journal_backend.py`` rewrites it
for PostgreSQL; ``journal_migrations.py`` upgrades an older journal's tables."""

SQL = re.compile(  # upper case, as the journal writes its statements; prose is not matched
    r"\bSELECT\b[^;]{0,400}?\bFROM\b|\bSELECT\s+[?\d]|\bINSERT\s+(OR\s+\w+\s+)?INTO\b|\bUPDATE\s+\w+\s+SET\b"
    r"|\bDELETE\s+FROM\b|\bCREATE\s+(TABLE|INDEX|VIEW|TRIGGER)\b|\bDROP\s+TABLE\b|\bALTER\s+TABLE\b"
    r"|\bPRAGMA\s+\w+|\bWITH\s+RECURSIVE\b|\bsqlite_master\b",
    re.DOTALL,
)
_STRINGS = {tokenize.STRING} | {getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}


def sql_strings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of each string literal in ``path`` that reads as a SQL statement."""
    out = []
    with path.open("rb") as f:
        for tok in tokenize.tokenize(f.readline):
            if tok.type in _STRINGS and SQL.search(tok.string):
                out.append((tok.start[0], tok.string.strip()[:80]))
    return out


def violations(src: Path = SRC) -> list[str]:
    found = []
    for path in sorted(src.rglob("*.py")):
        if path.relative_to(src) in JOURNAL_MODULES:
            continue
        for line, text in sql_strings(path):
            found.append(f"{path.relative_to(src.parent)}:{line}: {text}")
    return found


def test_no_sql_outside_the_journal_modules() -> None:
    found = violations()
    assert not found, (
        "SQL outside flyte/_runtime/journal.py and records.py (add a Journal method):\n" + "\n".join(found)
    )


def test_the_check_finds_sql(tmp_path: Path) -> None:
    """The rule is not vacuous: a statement in an ordinary module (even in an f-string) is caught,
    and prose that merely mentions the words is not."""
    pkg = tmp_path / "flyte"
    (pkg / "_runtime").mkdir(parents=True)
    (pkg / "_runtime" / "journal.py").write_text('Q = "SELECT * FROM runs"\n')
    (pkg / "cli.py").write_text(
        '"""Select a run from the list; update the view."""\n'
        'def f(j, col):\n    return j.query(f"SELECT {col} FROM runs WHERE name=?")\n'
        'D = "DELETE FROM cache"\n'
    )
    found = violations(pkg)
    assert [v.split(":")[1] for v in found] == ["3", "4"], found
    assert all(v.startswith("flyte/cli.py:") for v in found)


def test_worker_wire_carries_journal_operations_not_sql(tmp_path: Path) -> None:
    """A remote body records a step by naming an operation; SQL or an unknown operation is refused,
    and an accepted row lands in the journal as the controller's own write would."""
    import asyncio

    from flyte._runtime.controller import Controller
    from flyte._runtime.journal import ActionRow, Journal
    from flyte._runtime.placement.remote import RequestHandler
    from flyte._runtime.store import store_for

    journal = Journal(str(tmp_path / "journal.db"))
    prefix = (tmp_path / "data").as_uri()
    fixed = ("r1", "a1", None, 0, "trace", "t", "trace:t", "trace", "SUCCEEDED", 1, 0, 1.0, 2.0)
    row = ActionRow(*fixed, b"i", b"o", None, None, "inline", None)

    async def main() -> list[tuple[bool, str]]:
        c = Controller("r1", journal.for_run(), store_for(prefix), prefix)
        h = RequestHandler(c)
        answers = []
        for kind, payload in [
            ("jdurable", ("action_finished", tuple(row))),
            ("jwrite", ("DELETE FROM actions", ())),
            ("jwrite", ("attempt_finished", tuple(row))),
            ("jdurable", ("action_finished", tuple(row)[:5])),
        ]:
            ok, value = await h.reply(kind, payload)
            answers.append((ok, str(value)))
        return answers

    answers = asyncio.run(main())
    assert [ok for ok, _ in answers] == [True, False, False, False]
    assert "journal operation" in answers[1][1] and "DELETE FROM actions" in answers[1][1]
    assert "wrong shape" in answers[3][1]
    assert [(a["action_id"], a["status"]) for a in journal.list_actions("r1")] == [("a1", "SUCCEEDED")]
    journal.close()


if __name__ == "__main__":
    problems = violations()
    for p in problems:
        print(p)
    if problems:
        print(
            f"{len(problems)} SQL string(s) outside the journal modules; add a typed Journal method instead"
        )
    sys.exit(1 if problems else 0)
