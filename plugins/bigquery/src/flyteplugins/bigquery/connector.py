"""The module path flyte-sdk users import from: ``from flyteplugins.bigquery.connector import BigQueryConnector``."""

from __future__ import annotations

from flyteplugins.bigquery._connector import BigQueryConnector

__all__ = ["BigQueryConnector"]
