"""The module path flyte-sdk users import from: ``from flyteplugins.bigquery.task import BigQueryTask``."""

from __future__ import annotations

from flyteplugins.bigquery._config import BigQueryConfig
from flyteplugins.bigquery._task import BigQueryTask

__all__ = ["BigQueryConfig", "BigQueryTask"]
