"""Placeholders in shell scripts: finding them, checking where they stand, and rendering them.

``{inputs.NAME}`` and ``{outputs.NAME}`` are the only placeholders; every other brace is left alone,
so ``${VAR}``, ``{ cmd; }`` and ``awk '{print $1}'`` need no escaping.

Rendered values are quoted with :func:`shlex.quote`. That makes a value one word of data only where
the placeholder stands unquoted in shell code: inside ``'...'``, ``"..."`` or a here-document, the
quoting itself would be part of the text and a value could end the surrounding quote. Such
placeholders are therefore refused when the task is defined (:func:`check_contexts`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PLACEHOLDER = re.compile(r"\{(inputs|outputs)\.([A-Za-z_][A-Za-z0-9_]*)\}")
_HEREDOC = re.compile(r"<<(-?)[ \t]*(['\"]?)([A-Za-z0-9_.\-]+)\2")
_WORD_BREAK = set(" \t\n;&|()<>")


@dataclass(frozen=True)
class Placeholder:
    kind: str  # "inputs" | "outputs"
    name: str
    start: int
    end: int
    context: str  # "code" | "single-quoted" | "double-quoted" | "here-document" | "backquoted"

    @property
    def text(self) -> str:
        return "{" + f"{self.kind}.{self.name}" + "}"

    def line_of(self, script: str) -> int:
        return script.count("\n", 0, self.start) + 1


def find_placeholders(script: str) -> list[Placeholder]:
    """Every placeholder with the shell context it stands in (a best-effort POSIX-shell scan).

    Tracks single and double quotes, backslash escapes, ``$(...)`` and backquote substitutions
    (a fresh unquoted context, also inside double quotes), ``#`` comments and here-documents.
    """
    found: list[Placeholder] = []
    # Stack of contexts; "code" frames carry the paren depth that closes them.
    stack: list[list[Any]] = [["code", 0]]
    pending_heredocs: list[tuple[str, bool]] = []
    i, n = 0, len(script)
    while i < n:
        top = stack[-1][0]
        c = script[i]
        m = PLACEHOLDER.match(script, i) if c == "{" else None
        if m is not None:
            ctx = {
                "code": "code",
                "sub": "code",
                "single": "single-quoted",
                "double": "double-quoted",
                "backtick": "backquoted",
            }[top]
            found.append(Placeholder(m.group(1), m.group(2), m.start(), m.end(), ctx))
            i = m.end()
            continue
        if top == "single":
            if c == "'":
                stack.pop()
            i += 1
            continue
        if c == "\\":
            i += 2
            continue
        if top == "double":
            if c == '"':
                stack.pop()
            elif script.startswith("$(", i):
                stack.append(["sub", 0])
                i += 2
                continue
            elif c == "`":
                stack.append(["backtick", 0])
            i += 1
            continue
        if top == "backtick" and c == "`":
            stack.pop()
            i += 1
            continue
        # unquoted shell code: top-level, inside $(...) or inside backquotes
        if c == "'":
            stack.append(["single", 0])
        elif c == '"':
            stack.append(["double", 0])
        elif c == "`":
            stack.append(["backtick", 0])
        elif script.startswith("$(", i):
            stack.append(["sub", 0])
            i += 2
            continue
        elif c == "(":
            stack[-1][1] += 1
        elif c == ")":
            if stack[-1][1] > 0:
                stack[-1][1] -= 1
            elif top == "sub":
                stack.pop()
        elif c == "#" and (i == 0 or script[i - 1] in _WORD_BREAK):
            nl = script.find("\n", i)
            i = n if nl < 0 else nl
            continue
        elif script.startswith("<<", i) and not script.startswith("<<<", i):
            h = _HEREDOC.match(script, i)
            if h is not None:
                pending_heredocs.append((h.group(3), h.group(1) == "-"))
                i = h.end()
                continue
        elif c == "\n" and pending_heredocs:
            i = _skip_heredocs(script, i + 1, pending_heredocs, found)
            pending_heredocs = []
            continue
        i += 1
    return found


def _skip_heredocs(script: str, i: int, heredocs: list[tuple[str, bool]], found: list[Placeholder]) -> int:
    """Skip here-document bodies starting at ``i``, recording the placeholders inside them."""
    for delim, strip_tabs in heredocs:
        while i < len(script):
            nl = script.find("\n", i)
            end = len(script) if nl < 0 else nl
            line = script[i:end]
            if (line.lstrip("\t") if strip_tabs else line) == delim:
                i = end + 1
                break
            for m in PLACEHOLDER.finditer(line):
                found.append(Placeholder(m.group(1), m.group(2), i + m.start(), i + m.end(), "here-document"))
            i = end + 1
    return i


def check_contexts(script: str, owner: str) -> list[Placeholder]:
    """The script's placeholders; raises ``ValueError`` for one that stands inside quotes."""
    placeholders = find_placeholders(script)
    for p in placeholders:
        if p.context in ("code", "backquoted"):
            continue
        raise ValueError(
            f"{owner}: placeholder {p.text} on line {p.line_of(script)} stands in a {p.context} part of the "
            "script. Values are shell-quoted for you and must stand unquoted: write "
            f'`cmd {p.text}`, not `cmd "{p.text}"`. To use a value inside quotes or a here-document, '
            f'assign it first (`v={p.text}`) and write "$v".'
        )
    return placeholders


def render(
    script: str,
    placeholders: list[Placeholder],
    value_of: Callable[[str, str], str],
) -> str:
    """Replace each placeholder by ``value_of(kind, name)`` (already shell-safe text)."""
    out: list[str] = []
    pos = 0
    for p in sorted(placeholders, key=lambda p: p.start):
        out.append(script[pos : p.start])
        out.append(value_of(p.kind, p.name))
        pos = p.end
    out.append(script[pos:])
    return "".join(out)


def quote(text: str) -> str:
    return shlex.quote(text)
