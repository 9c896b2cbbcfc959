"""The SDK's loggers, named as the anchor SDK names them.

``logger`` ("flyte.user") is for messages from user code; ``system_logger`` ("flyte") is the parent
of the runtime's own loggers ("flyte.storage", "flyte.app", ...).
"""

from __future__ import annotations

import logging

system_logger = logging.getLogger("flyte")
logger = logging.getLogger("flyte.user")
