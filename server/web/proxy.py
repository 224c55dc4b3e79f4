"""Client address and scheme from X-Forwarded-* headers, trusted only from known proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TrustedProxyMiddleware:
    """ASGI middleware: when the peer is a trusted proxy, use the address and scheme it forwards.

    `allow_ips` is a comma-separated list of addresses or networks, or "*" for any peer.
    The client is found by walking X-Forwarded-For from the right (each proxy appends the
    address it received from) past every trusted proxy; the first untrusted address is the
    client. Entries that are not IP addresses end the walk and the peer address is kept.
    With "*", every hop is trusted and the leftmost address is taken. The scheme is the
    last X-Forwarded-Proto value (the one the nearest proxy set). From any other peer the
    headers are ignored: a student cannot choose the address the server sees.
    """

    def __init__(self, app: Any, allow_ips: str) -> None:
        self.app = app
        parts = [part.strip() for part in allow_ips.split(",") if part.strip()]
        self.allow_any = "*" in parts
        self.networks = []
        for part in parts:
            if part == "*":
                continue
            try:
                self.networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError as exc:
                raise ValueError(f"--forwarded-allow-ips: {part!r} is not an IP address or network") from exc

    def trusted(self, host: str | None) -> bool:
        if self.allow_any:
            return True
        address = parse_address(host)
        return address is not None and any(address in network for network in self.networks)

    def client_address(self, forwarded_for: Iterable[str]) -> str | None:
        """The client's address from X-Forwarded-For values, or None to keep the peer's."""
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
        if not hops:
            return None
        if self.allow_any:
            address = parse_address(hops[0])
            return str(address) if address is not None else None
        for hop in reversed(hops):
            address = parse_address(hop)
            if address is None:
                return None
            if not any(address in network for network in self.networks):
                return str(address)
        return str(parse_address(hops[0]))  # every hop is one of our proxies

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            if self.trusted(client[0] if client else None):
                forwarded_for: list[str] = []
                forwarded_proto: list[str] = []
                for name, value in scope.get("headers", []):
                    lowered = name.lower()
                    if lowered == b"x-forwarded-for":
                        forwarded_for.append(value.decode("latin-1"))
                    elif lowered == b"x-forwarded-proto":
                        forwarded_proto.append(value.decode("latin-1"))
                scope = dict(scope)
                address = self.client_address(forwarded_for)
                if address is not None:
                    scope["client"] = (address, 0)
                protos = [p.strip().lower() for value in forwarded_proto for p in value.split(",") if p.strip()]
                if protos and protos[-1] in ("http", "https"):
                    secure = protos[-1] == "https"
                    if scope["type"] == "websocket":
                        scope["scheme"] = "wss" if secure else "ws"
                    else:
                        scope["scheme"] = protos[-1]
        await self.app(scope, receive, send)


def parse_address(text: str | None) -> Address | None:
    """An IP address from `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:5678`."""
    if not text:
        return None
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
