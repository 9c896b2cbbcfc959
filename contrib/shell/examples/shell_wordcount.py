"""Shell tasks with typed inputs and outputs, called from a Python workflow like any task.

    pip install flyte-contrib-shell        # from a checkout: pip install -e core -e contrib/shell
    python contrib/shell/examples/shell_wordcount.py
    flyte run contrib/shell/examples/shell_wordcount.py main --lines 20 --top 3

``make_text`` writes a file with a shell script (its ``File`` output), ``top_words`` runs ``sort |
uniq -c`` over it and hands back an ``int`` and a ``File``; ``summarise`` is plain Python. Inputs are
quoted for the shell, so a value is always data, never code.
"""

from __future__ import annotations

import flyte
from flyte.io import File
from flyteplugins.shell import ShellTask

make_text = ShellTask(
    name="make_text",
    script="""
        i=0
        n={inputs.lines}
        while [ "$i" -lt "$n" ]; do
            echo "flyte runs shell tasks and flyte runs python tasks $i"
            i=$((i + 1))
        done > {outputs.text}
    """,
    inputs={"lines": int},
    outputs={"text": File},
)

top_words = ShellTask(
    name="top_words",
    script="""
        tr ' ' '\\n' < {inputs.text} | grep -v '^[0-9]*$' | sort | uniq -c | sort -k1,1nr -k2 \\
            | head -n {inputs.top} > {outputs.ranking}
        tr ' ' '\\n' < {inputs.text} | grep -c . > {outputs.words}
    """,
    inputs={"text": File, "top": int},
    outputs={"words": int, "ranking": File},
    env={"LC_ALL": "C"},
    timeout=60,
)

env = flyte.TaskEnvironment(name="shell_example")


@env.task
async def summarise(words: int, ranking: File) -> dict[str, object]:
    async with ranking.open("rb") as f:
        rows = (await f.read()).decode().split("\n")
    top = [f"{w}:{n}" for n, w in (r.split() for r in rows if r.strip())]
    return {"words": words, "top": top}


@env.task
async def main(lines: int = 10, top: int = 3) -> dict[str, object]:
    text = await make_text(lines=lines)
    res = await top_words(text=text, top=top)
    return await summarise(res.words, res.ranking)


if __name__ == "__main__":
    flyte.init()
    run = flyte.run(main, lines=10, top=3)
    print(run.name, run.outputs()[0])
