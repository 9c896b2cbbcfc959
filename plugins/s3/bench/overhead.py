"""Per-action overhead of runs whose data is in S3, against the local store.

    python plugins/s3/bench/overhead.py [--small 2000] [--large 200]

Starts moto's S3 server on 127.0.0.1 (``flyte-plugin-s3[test]``), then times the same fan-outs with
``raw_data_path`` on the local disk and in the bucket:

* ``small``: children returning an int (values inline in the journal; S3 only holds the run record);
* ``large``: children returning 300 KB (each output is one PUT, and a recovered read one GET).

moto answers from memory on loopback, so this measures flyte's and boto3's own cost per action, not
a real network's latency (add your endpoint's round trip per offloaded value for that).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid

import flyte
import flyte._config

env = flyte.TaskEnvironment(name="s3bench")


@env.task
async def tiny(i: int) -> int:
    return i


@env.task
async def large(i: int) -> str:
    return "x" * 300_000


@env.task
async def fan_small(n: int) -> int:
    return sum(await asyncio.gather(*(tiny(i) for i in range(n))))


@env.task
async def fan_large(n: int) -> int:
    return sum(len(s) for s in await asyncio.gather(*(large(i) for i in range(n))))


def timed(task: object, n: int, raw: str, storage: dict[str, object] | None, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        home = tempfile.mkdtemp(prefix="flyte-s3-bench-")
        os.environ["FLYTE_HOME"] = home
        flyte._config._settings = None
        flyte.init(raw_data_path=raw, storage=storage)  # the store (a boto3 client) is made once
        t = time.perf_counter()
        run = flyte.run(task, n=n)  # type: ignore[arg-type]
        times.append(time.perf_counter() - t)
        assert run.status == "SUCCEEDED", run.error
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    from flyteplugins.s3.testing import MotoServer

    with MotoServer() as server:
        bucket = "bench-" + uuid.uuid4().hex[:8]
        server.create_bucket(bucket)
        local = "file://" + tempfile.mkdtemp(prefix="flyte-s3-bench-data-")
        s3 = f"s3://{bucket}/data"
        opts = server.storage_options()
        rows = []
        for label, task, n in (
            ("small (inline)", fan_small, args.small),
            ("large (300 KB)", fan_large, args.large),
        ):
            a = timed(task, n, local, None, args.repeat)
            b = timed(task, n, s3, opts, args.repeat)
            rows.append((label, n, a, b))
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, moto on 127.0.0.1; median of {args.repeat}"
    )
    print("| children | n | local store | S3 (moto) | S3 extra per action |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, n, a, b in rows:
        print(f"| {label} | {n} | {a:.3f} s | {b:.3f} s | {(b - a) / n * 1e6:.0f} µs |")


if __name__ == "__main__":
    main()
