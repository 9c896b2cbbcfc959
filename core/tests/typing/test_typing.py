"""@env.task keeps the function's signature for the user's type checker (the seeds rely on mypy)."""

import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = Path(__file__).with_name("sample_app.py")


def _line_of(marker: str) -> int:
    for i, line in enumerate(SAMPLE.read_text().splitlines(), start=1):
        if marker in line:
            return i
    raise AssertionError(f"{marker!r} not in sample")


def _revealed(text: str) -> str:
    """The revealed type, without the 'builtins.' prefix older mypy versions print."""
    return text.split('Revealed type is "', 1)[1].split('"', 1)[0].replace("builtins.", "")


@pytest.fixture(scope="module")
def mypy_lines() -> dict[int, str]:
    pytest.importorskip("mypy", reason="mypy is installed by the nox sessions")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--no-incremental",
            "--hide-error-context",
            "--no-error-summary",
            "--config-file",
            "/dev/null",
            str(SAMPLE),
        ],
        capture_output=True,
        text=True,
        cwd=SAMPLE.parent,
    )
    out: dict[int, str] = {}
    for line in (proc.stdout + proc.stderr).splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[1].isdigit():
            out[int(parts[1])] = out.get(int(parts[1]), "") + parts[2]
    return out


def test_no_unexpected_errors(mypy_lines: dict[int, str]) -> None:
    bad = _line_of('square("x")')
    unexpected = {n: t for n, t in mypy_lines.items() if "error" in t and n != bad}
    assert not unexpected


def test_await_task_is_typed_as_its_return(mypy_lines: dict[int, str]) -> None:
    assert _revealed(mypy_lines[_line_of("reveal_type(one)")]) == "int"


def test_gather_of_tasks_is_a_list_of_returns(mypy_lines: dict[int, str]) -> None:
    assert _revealed(mypy_lines[_line_of("reveal_type(many)")]) == "list[int]"


def test_sync_task_call_is_typed(mypy_lines: dict[int, str]) -> None:
    assert _revealed(mypy_lines[_line_of("reveal_type(d)")]) == "int"


def test_wrong_argument_type_is_flagged(mypy_lines: dict[int, str]) -> None:
    text = mypy_lines[_line_of('square("x")')]
    assert "error" in text and "arg-type" in text and '"str"' in text and '"int"' in text
