"""Client address and scheme from X-Forwarded-* headers, trusted only from known proxies."""
from __future__ import annotations

import ipaddress
from typing import Any


class TrustedProxyMiddleware:
    """ASGI middleware: when the peer is a trusted proxy, use the address and scheme it forwards.

    `allow_ips` is a comma-separated list of addresses or networks, or "*" for any peer.
    Only the last X-Forwarded-For entry is used (the one our proxy added).
    """

    def __init__(self, app: Any, allow_ips: str) -> None:
        self.app = app
        self.allow_any = allow_ips.strip() == "*"
        self.networks = [
            ipaddress.ip_network(part.strip(), strict=False) for part in allow_ips.split(",") if part.strip() not in ("", "*")
        ]

    def _trusted(self, host: str | None) -> bool:
        if self.allow_any:
            return True
        if not host:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            if self._trusted(client[0] if client else None):
                headers = {name.lower(): value.decode("latin1") for name, value in scope.get("headers", [])}
                scope = dict(scope)
                forwarded_for = headers.get(b"x-forwarded-for")
                if forwarded_for:
                    scope["client"] = (forwarded_for.split(",")[-1].strip(), 0)
                proto = headers.get(b"x-forwarded-proto", "").split(",")[-1].strip().lower()
                if proto in ("http", "https"):
                    secure = proto == "https"
                    if scope["type"] == "websocket":
                        scope["scheme"] = "wss" if secure else "ws"
                    else:
                        scope["scheme"] = proto
        await self.app(scope, receive, send)
