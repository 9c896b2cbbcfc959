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
JOURNAL_MODULES = {Path("_runtime/journal.py"), Path("_runtime/records.py")}
"""Where the journal's SQL lives (relative to ``core/src/flyte``)."""

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


if __name__ == "__main__":
    problems = violations()
    for p in problems:
        print(p)
    if problems:
        print(
            f"{len(problems)} SQL string(s) outside the journal modules; add a typed Journal method instead"
        )
    sys.exit(1 if problems else 0)
