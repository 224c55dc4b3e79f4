"""Which page is asking: the one rule that stops other sites acting through a visitor's browser.

A browser attaches this server's cookies (the instructor's, a student's) to any request
made to it, whichever page makes it, and `SameSite=Lax` does not tell apart two sites
that share a registrable domain (`quiz.example.edu` and a student's homepage on
`*.example.edu`). What a page cannot forge is the `Origin` header a browser puts on every
websocket handshake and every cross-origin POST, nor the `Sec-Fetch-Site` header modern
browsers add to every request. So a request may act only when:

- it has at most one `Origin`, and that one is exactly this server's origin (scheme, host
  and port; default ports normalised; host case-insensitive; never a prefix, suffix or
  substring match; `null` never matches), and
- its `Sec-Fetch-Site`, when present, is `same-origin` or `none` (a typed URL, a bookmark):
  `same-site` (another subdomain) and `cross-site` are refused even without an `Origin`.

A request with neither header comes from no browser page (`quizctl`, a script with
`Authorization: Bearer`, curl) and may act.

The server's own origin is the `--public-url`'s `scheme://host[:port]` when one is set,
else the origin the page was served from: the request's scheme (as the trusted-proxy
middleware set it from `X-Forwarded-Proto`) and its `Host` header.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

log = logging.getLogger("quizctl.http")

DEFAULT_PORTS = {"http": 80, "https": 443}
# A websocket's scheme names the scheme of the page that opened it.
PAGE_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
# Sec-Fetch-Site values of requests made by our own pages or typed by the user.
FETCH_SITES_ALLOWED = frozenset({"same-origin", "none"})
# Longest header value quoted in a log line (the rest is cut: a script may send anything).
LOGGED_VALUE_CHARS = 120


@dataclass(frozen=True, slots=True)
class Origin:
    """A web origin: lower-case scheme and host, and an explicit port."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if DEFAULT_PORTS.get(self.scheme) == self.port else f":{self.port}"
        return f"{self.scheme}://{host}{port}"


def parse_origin(text: str) -> Origin | None:
    """The origin in `text` (`scheme://host[:port]`, http or https), or None for anything else.

    Anything a browser never sends as an Origin is None, so it can never match: `null`,
    other schemes, a path, query, fragment or user info, an empty host, a bad port.
    """
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or text.strip().endswith(("?", "#")):
        return None
    return Origin(scheme, parts.hostname.lower(), DEFAULT_PORTS[scheme] if port is None else port)


def server_origin(public_url: str | None, scheme: str, host_header: str | None) -> Origin | None:
    """This server's origin: the public URL's when configured, else the request's scheme and Host.

    `scheme` is the request's (`http`, `https`, `ws` or `wss`). None when it cannot be
    known (no or malformed Host header): then every Origin is refused.
    """
    if public_url:
        parts = urlsplit(public_url)
        return parse_origin(f"{parts.scheme}://{parts.netloc}")
    page_scheme = PAGE_SCHEMES.get(scheme.lower())
    if page_scheme is None or not host_header:
        return None
    return parse_origin(f"{page_scheme}://{host_header}")


def cross_origin_reason(
    origins: list[str], fetch_site: str | None, own: Origin | None, *also: Origin | None
) -> str | None:
    """Why a request carrying these headers comes from another site's page, or None when it may act.

    `origins` are the request's Origin header values, `fetch_site` its Sec-Fetch-Site, `own`
    this server's origin (see `server_origin`); `also` other origins this server answers at
    (the Host the request itself was sent to: a browser cannot forge it).
    """
    if len(origins) > 1:
        return "more than one Origin header"
    if fetch_site is not None and fetch_site.strip().lower() not in FETCH_SITES_ALLOWED:
        return f"Sec-Fetch-Site is {quoted(fetch_site)}"
    if not origins:
        return None
    origin = parse_origin(origins[0])
    if origin is None or origin not in {own, *also} - {None}:
        return f"Origin {quoted(origins[0])} is not this server's origin ({own or 'unknown: no Host header'})"
    return None


def quoted(value: str) -> str:
    """A header value for a log line: repr-quoted (no control characters get through) and cut short."""
    cut = value[:LOGGED_VALUE_CHARS]
    return repr(cut) + ("..." if len(value) > LOGGED_VALUE_CHARS else "")


class RefusalLog:
    """Logs refused cross-origin requests at WARNING without letting one source flood the log.

    The first LOG_FIRST refusals from each client address are logged, then every
    LOG_EVERY-th (as `throttle.FailureThrottle` does for wrong tokens). Bounded: only
    the most recent MAX_SOURCES addresses are remembered.
    """

    LOG_FIRST = 10
    LOG_EVERY = 100
    MAX_SOURCES = 4096

    def __init__(self) -> None:
        self._counts: OrderedDict[str, int] = OrderedDict()
        self.total = 0

    def refused(self, source: str, route: str, reason: str) -> None:
        """Count one refusal of `route` (method and path) from `source`, logging it when its turn comes."""
        count = self._counts.pop(source, 0) + 1
        self._counts[source] = count
        while len(self._counts) > self.MAX_SOURCES:
            self._counts.popitem(last=False)
        self.total += 1
        if count <= self.LOG_FIRST or count % self.LOG_EVERY == 0:
            log.warning("refused %s from %s: %s (%d refused from this address)", route, source, reason, count)
