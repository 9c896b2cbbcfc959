"""Test support for flyte users and plugin authors.

Installed with flyte-core as a pytest plugin (entry point ``pytest11``, name ``flyte``), so any test
can ask for these fixtures without copying them:

- ``flyte_home``: a fresh ``FLYTE_HOME`` (journal and object store) under the test's ``tmp_path``,
  no config file, no leftover ``flyte.init`` settings, the working directory at ``tmp_path``;
  subprocesses inherit it through the environment. Returns the home's path.
- ``flyte_journal``: a :class:`JournalReader` of that home's journal, read with its own connection
  (what another process sees).

Opt in per module with ``pytestmark = pytest.mark.usefixtures("flyte_home")``, or per directory with
an autouse fixture in ``conftest.py`` that requests it. ``pytest -p no:flyte`` turns the plugin off.
"""

from __future__ import annotations

from flyte.testing._support import ISOLATED_ENV, JournalReader, isolate

__all__ = ["ISOLATED_ENV", "JournalReader", "isolate"]
