"""The executor address: which Ray cluster, and how this process joins it.

- ``ray://HOST:PORT``: Ray Client (Ray's own scheme; PORT is the head's client server, 10001 by
  default). The driver can be anywhere that reaches the head.
- ``ray+direct://HOST:PORT``: join as a driver through the head's GCS port (6379 by default). The
  process must be on a node of the cluster; when HOST is one of this machine's own addresses (a
  cluster on loopback, say) the driver takes it as its node address, so Ray never substitutes the
  machine's other address.
- ``ray``: whatever ``ray.init()`` finds (``RAY_ADDRESS``, else the cluster this node runs).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flyte.errors import InvalidParameterError

_FIX = "Use 'ray://HOST:PORT' (Ray Client), 'ray+direct://HOST:PORT' (the head's GCS port) or 'ray'."


@dataclass(frozen=True)
class RayAddress:
    """How to call ``ray.init``."""

    text: str
    address: str | None
    node_ip: str | None = None

    def init_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {}
        if self.address is not None:
            kw["address"] = self.address
        if self.node_ip is not None:
            kw["_node_ip_address"] = self.node_ip
        return kw


def parse_address(text: str) -> RayAddress:
    """``flyte.init(executor=...)`` as a :class:`RayAddress`; a clear error for anything else."""
    if text == "ray":
        return RayAddress(text, None)
    parts = urlsplit(text)
    if parts.scheme not in ("ray", "ray+direct") or not parts.hostname or parts.path not in ("", "/"):
        raise InvalidParameterError("init", "executor", text, _FIX)
    try:
        port = parts.port
    except ValueError:
        raise InvalidParameterError("init", "executor", text, _FIX) from None
    host = parts.hostname
    if parts.scheme == "ray":
        return RayAddress(text, f"ray://{host}:{port or 10001}")
    return RayAddress(text, f"{host}:{port or 6379}", host if _is_own_address(host) else None)


def _is_own_address(host: str) -> bool:
    """True when ``host`` is an address of this machine (a loopback one, or bound here)."""
    try:
        ip = socket.gethostbyname(host)
    except OSError:
        return False
    if ip.startswith("127."):
        return True
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((ip, 0))  # only an address of this machine can be bound; nothing is sent
        return True
    except OSError:
        return False
