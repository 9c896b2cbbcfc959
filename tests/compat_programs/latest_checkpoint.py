# covers: latest_checkpoint (newest matching file under a folder, custom glob and key)
# expect-source: anchor
# expect-exit: 0
# expect: {"default": "epoch2/last.ckpt"}
# expect: {"by_name": "epoch2/last.ckpt"}
# expect: {"none": null}
"""flyte.latest_checkpoint picks the newest checkpoint file under a restored folder."""

import json
import os
import tempfile
import time
from pathlib import Path

import flyte

if __name__ == "__main__":
    root = Path(tempfile.mkdtemp())
    for i, name in enumerate(["epoch1/last.ckpt", "epoch2/last.ckpt", "epoch3/other.bin"]):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(i))
        os.utime(path, (time.time() - 100 + i, time.time() - 100 + i))
    newest = flyte.latest_checkpoint(root)
    print("RESULT " + json.dumps({"default": str(newest.relative_to(root)) if newest else None}))
    by_name = flyte.latest_checkpoint(root, "**/*.ckpt", key=lambda p: p.parent.name)
    print("RESULT " + json.dumps({"by_name": str(by_name.relative_to(root)) if by_name else None}))
    print("RESULT " + json.dumps({"none": flyte.latest_checkpoint(root / "epoch3", "**/last.ckpt")}))
