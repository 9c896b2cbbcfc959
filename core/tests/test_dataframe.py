"""flyte.io.DataFrame in real runs: tables stored once as Parquet in the run's store and converted
between pandas, pyarrow and polars at task boundaries, column annotations, caching by content."""

import collections
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import flyte
import flyte._config
import pytest
from flyte.errors import InvalidParameterError, RuntimeDataValidationError
from flyte.io import DataFrame

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")

env = flyte.TaskEnvironment(name="dataframes")
COLS = collections.OrderedDict(name=str, age=int)
calls: list[str] = []


def people_df() -> Any:
    return pd.DataFrame({"name": ["ann", "bob", "cy"], "age": [30, 40, 50], "city": ["a", "b", "c"]})


@env.task
async def make() -> DataFrame:
    return DataFrame.from_df(people_df())


@env.task
def make_pandas() -> pd.DataFrame:
    return people_df()


@env.task
async def arrow_rows(df: DataFrame) -> int:
    table = await df.open(pa.Table).all()
    assert isinstance(table, pa.Table)
    return int(table.num_rows)


@env.task
def pandas_ages(df: pd.DataFrame) -> list[int]:
    assert isinstance(df, pd.DataFrame)
    return [int(a) for a in df["age"]]


@env.task
def passthrough(df: DataFrame) -> pd.DataFrame:
    return df  # type: ignore[return-value]  # converted at the boundary, as in flyte-sdk


@env.task
async def columns_of(df: Annotated[DataFrame, COLS]) -> list[str]:
    return list((await df.open(pd.DataFrame).all()).columns)


@env.task
async def pipeline() -> dict[str, Any]:
    d = await make()
    p = await make_pandas.aio()
    back = await passthrough.aio(d)
    return {
        "arrow_rows": await arrow_rows(d),
        "from_pandas_task": await arrow_rows(p),
        "pandas_ages": await pandas_ages.aio(d),
        "passthrough": type(back).__name__,
        "columns": await columns_of(d),
        "uri": d.uri,
    }


def test_tables_cross_task_boundaries_as_parquet(flyte_home: Path) -> None:
    run = flyte.run(pipeline)
    out = run.outputs()[0]
    assert out["arrow_rows"] == 3 and out["from_pandas_task"] == 3, run.error
    assert out["pandas_ages"] == [30, 40, 50] and out["passthrough"] == "DataFrame"
    assert out["columns"] == ["name", "age"]
    stored = Path(out["uri"].removeprefix("file://"))
    assert stored.is_relative_to(flyte_home) and [f.name for f in stored.iterdir()] == ["part-00000.parquet"]
    assert pd.read_parquet(stored)["name"].tolist() == ["ann", "bob", "cy"]


@env.task(cache="auto")
def cached_frame(n: int) -> pd.DataFrame:
    calls.append("ran")
    return pd.DataFrame({"x": list(range(n))})


@env.task(cache="auto")
def cached_sum(df: pd.DataFrame) -> int:
    calls.append("sum")
    return int(df["x"].sum())


@env.task
def cached_pipeline(n: int) -> int:
    return cached_sum(cached_frame(n))


def test_cached_tables_are_read_back_and_keyed_by_content() -> None:
    calls.clear()
    assert flyte.run(cached_pipeline, n=4).outputs()[0] == 6
    assert flyte.run(cached_pipeline, n=4).outputs()[0] == 6  # both hits: the frame is read from Parquet
    assert calls == ["ran", "sum"]


def test_outside_a_run_values_convert_in_memory() -> None:
    fdf = DataFrame.from_df(people_df())
    assert fdf.uri is None and fdf.val is not None and fdf.format == ""  # flyte-sdk's generic format
    table = fdf.open(pa.Table).all_sync()
    assert isinstance(table, pa.Table) and table.column_names == ["name", "age", "city"]
    assert fdf.open(pd.DataFrame).all_sync() is fdf.val


def test_existing_remote_and_iter(tmp_path: Path) -> None:
    import asyncio

    import pyarrow.parquet as pq

    (tmp_path / "t").mkdir()
    pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "t" / "p0.parquet")
    pq.write_table(pa.table({"a": [3]}), tmp_path / "t" / "p1.parquet")
    fdf = DataFrame.from_existing_remote(str(tmp_path / "t"), format="parquet")
    assert fdf.open(pd.DataFrame).all_sync()["a"].tolist() == [1, 2, 3]

    async def parts() -> list[int]:
        return [len(p) async for p in await fdf.open(pd.DataFrame).iter()]

    assert asyncio.run(parts()) == [2, 1]


def test_polars_converts_both_ways() -> None:
    pl = pytest.importorskip("polars")

    @env.task
    def to_polars(df: DataFrame) -> pl.DataFrame:
        return df  # type: ignore[return-value]

    @env.task
    async def from_polars() -> list[Any]:
        p = await to_polars.aio(await make())
        return [type(p).__name__, await arrow_rows(p)]

    assert flyte.run(from_polars).outputs()[0] == ["DataFrame", 3]


def test_bad_values_name_the_fix() -> None:
    with pytest.raises(InvalidParameterError, match="known library"):
        DataFrame.from_df(42)
    with pytest.raises(InvalidParameterError, match="dataframe_type"):
        DataFrame.from_df(people_df()).open(int)
    with pytest.raises(ValueError, match=r"open\(<table type>\)"):
        DataFrame.from_df(people_df()).all_sync()

    @env.task
    def wants_frame(df: DataFrame) -> int:
        return 0

    with pytest.raises(RuntimeDataValidationError, match=r"'df'.*expected a flyte.io.DataFrame or a table"):
        flyte.run(wants_frame, df=[1, 2])  # type: ignore[arg-type]


def test_dataframes_cross_into_worker_processes() -> None:
    run = flyte.with_runcontext(isolation="process").run(pipeline)
    assert run.outputs()[0]["pandas_ages"] == [30, 40, 50], run.error


def test_importing_flyte_io_loads_no_dataframe_library() -> None:
    code = (
        "import sys, flyte.io; print(sorted(m for m in ('pandas', 'pyarrow', 'polars') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


@dataclass
class Report:
    title: str
    data: DataFrame


@env.task
async def nested_make() -> Report:
    return Report(title="people", data=DataFrame.from_df(people_df()))


@env.task
async def nested_read(r: Report) -> list[Any]:
    pdf = await r.data.open(pd.DataFrame).all()
    return [r.title, len(pdf)]


@env.task
async def nested() -> list[Any]:
    return await nested_read(await nested_make())


def test_dataframe_nested_in_a_dataclass() -> None:
    assert flyte.run(nested).outputs()[0] == ["people", 3]
    assert flyte.with_runcontext(isolation="process").run(nested).outputs()[0] == ["people", 3]


class RowCount:
    """A hash method as flyte-sdk's HashFunction shapes it: update(value), then result()."""

    def __init__(self) -> None:
        self.n = 0

    def update(self, df: Any) -> None:
        self.n = len(df)

    def result(self) -> str:
        return f"rows-{self.n}"


def test_from_local_stores_now_with_the_users_hash(tmp_path: Path) -> None:
    fdf = DataFrame.from_local_sync(
        people_df(), remote_destination=str(tmp_path / "t"), hash_method=RowCount()
    )
    assert fdf.hash == "rows-3" and fdf.format == "parquet"
    assert pd.read_parquet(tmp_path / "t")["age"].tolist() == [30, 40, 50]
    assert DataFrame.from_local_sync(people_df(), hash_method="k1").hash == "k1"
    with pytest.raises(InvalidParameterError, match="hash_method"):
        DataFrame.from_local_sync(people_df(), hash_method=3)


def test_spec_describes_dataframe_inputs_and_outputs() -> None:
    iface = columns_of.spec().model_dump()["interface"]
    assert iface["inputs"]["df"]["x-flyte-type"] == "dataframe"
    assert make.spec().model_dump()["interface"]["output"]["title"] == "DataFrame"
