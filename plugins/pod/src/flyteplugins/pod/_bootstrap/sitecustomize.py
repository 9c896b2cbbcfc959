"""Local pod runs only: put the run's packages and code (mounted read-only) on ``sys.path``.

Python imports ``sitecustomize`` at startup; this folder alone is on ``PYTHONPATH``, so the mounted
paths come *after* the image's standard library, in the host's order, with their ``.pth`` files
(editable installs) processed.
"""

import os
import site

for _path in os.environ.get("FLYTE_POD_PATH", "").split(os.pathsep):
    if _path:
        site.addsitedir(_path)
