"""The most frequent words of a Shakespeare work, from BigQuery's public samples.

    GOOGLE_CLOUD_PROJECT=my-project python plugins/bigquery/examples/shakespeare.py hamlet
    GOOGLE_CLOUD_PROJECT=my-project flyte run plugins/bigquery/examples/shakespeare.py main --corpus hamlet
    BIGQUERY_EMULATOR_HOST=127.0.0.1:9050 GOOGLE_CLOUD_PROJECT=local python ... # a local emulator

Credentials come from the standard Google chain (``gcloud auth application-default login``, a
service account, the metadata server); the jobs are billed to GOOGLE_CLOUD_PROJECT. ``top_words``
returns a small pandas DataFrame; ``corpus_words`` returns only a reference to its result table
(``bq://...``), which ``vocabulary`` reads. The corpus and the limit are query parameters.
"""

from __future__ import annotations

import sys
from typing import Any

import flyte
from flyteplugins.bigquery import BigQueryConfig, BigQueryTable, BigQueryTask, DataFrameOrTable, to_pandas

SHAKESPEARE = "`bigquery-public-data.samples.shakespeare`"
config = BigQueryConfig(Location="US")  # ProjectID: from the environment (GOOGLE_CLOUD_PROJECT)

top_words = BigQueryTask(
    name="top_words",
    query_template=f"""
        SELECT word, SUM(word_count) AS count
        FROM {SHAKESPEARE}
        WHERE corpus = @corpus
        GROUP BY word
        ORDER BY count DESC, word
        LIMIT @limit
    """,
    inputs={"corpus": str, "limit": int},
    plugin_config=config,
)

corpus_words = BigQueryTask(
    name="corpus_words",
    query_template=f"SELECT word, word_count FROM {SHAKESPEARE} WHERE corpus = @corpus",
    inputs={"corpus": str},
    output_dataframe_type=BigQueryTable,  # a reference to the result table, not its rows
    plugin_config=config,
    retries=2,
    timeout=600,
)

env = flyte.TaskEnvironment(name="shakespeare")


@env.task
async def vocabulary(words: BigQueryTable) -> int:
    """Distinct words of the corpus, read from the query's result table."""
    return int(to_pandas(words)["word"].str.lower().nunique())


@env.task
async def report(top: DataFrameOrTable, distinct: int) -> dict[str, Any]:
    df = to_pandas(top)
    return {"top": [f"{r.word}:{r.count}" for r in df.itertuples()], "distinct_words": distinct}


@env.task
async def main(corpus: str = "hamlet", limit: int = 5) -> dict[str, Any]:
    top = await top_words(corpus=corpus, limit=limit)
    words = await corpus_words(corpus=corpus)
    out: dict[str, Any] = await report(top, await vocabulary(words))
    return out


if __name__ == "__main__":
    result = flyte.run(main, corpus=sys.argv[1] if len(sys.argv) > 1 else "hamlet")
    print(result.status, result.outputs()[0] if result.status == "SUCCEEDED" else result.error)
