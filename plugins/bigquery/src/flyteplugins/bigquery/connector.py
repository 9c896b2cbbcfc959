"""The module path flyte-sdk users import the connector from (``flyteplugins.bigquery.connector``)."""

from __future__ import annotations

from flyteplugins.bigquery._connector import BigQueryConnector

__all__ = ["BigQueryConnector"]
