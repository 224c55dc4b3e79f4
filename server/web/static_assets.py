"""The pages' static files: content-hashed URLs, cached for good, sent gzipped once compressed at start.

10,000 phones joining within a minute would pull the pages' scripts and styles through the
hall's access points 10,000 times, and every reload would revalidate each file. So:

- each file gets a second URL with its content's hash in the name (`student.3f2a9c1b0d.js`),
  served with `Cache-Control: public, max-age=31536000, immutable`; the HTML pages (served
  `no-cache`, they are small and per-language) and the scripts' imports of each other point
  at those URLs, so a phone fetches each file once until it changes;
- the plain URL (`/static/student.js`, and what scripts fetch by name at run time, such as
  the locale catalogs) stays, revalidated cheaply with an ETag (304 without a body);
- text files are gzipped once, when the server starts, and sent gzipped to clients that
  accept it (`Vary: Accept-Encoding`). gzip from the standard library: brotli would save
  another ~15 % but is a compiled dependency for little gain on these small files.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
HASH_CHARS = 10
GZIP_MIN_BYTES = 512  # smaller files are not worth a compressed copy
TEXT_TYPES = ("text/", "application/javascript", "application/json", "image/svg+xml")
# A reference to a static file in HTML (href/src) or in a script (import specifiers).
_REFERENCE = re.compile(r"""(?P<quote>["'])/static/(?P<path>[A-Za-z0-9_./-]+\.(?:js|css|json|svg|png))(?P=quote)""")


@dataclass(frozen=True, slots=True)
class Asset:
    """One static file as served: its bytes (references rewritten), a gzipped copy, its hashed path."""

    logical: str  # "student.js", "locales/de.json"
    hashed: str  # "student.3f2a9c1b0d.js"
    body: bytes
    gzipped: bytes | None
    content_type: str

    @property
    def etag(self) -> str:
        return f'"{self.hashed}"'


class StaticAssets:
    """Every file of the static folder, read and prepared once; looked up by plain or hashed path."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._sources = {
            path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*"))
            if path.is_file() and not path.name.startswith(".")
        }
        self._assets: dict[str, Asset] = {}
        for logical in self._sources:
            self._prepare(logical, ())
        self._by_hashed = {asset.hashed: asset for asset in self._assets.values()}

    def find(self, path: str) -> tuple[Asset, bool] | None:
        """(asset, immutable) for a request path below /static/, or None when there is no such file."""
        asset = self._by_hashed.get(path)
        if asset is not None:
            return asset, True
        asset = self._assets.get(path)
        return (asset, False) if asset is not None else None

    def page(self, name: str) -> str:
        """An HTML page's text with its references pointing at the hashed URLs."""
        return self._rewrite(self._sources[name].decode("utf-8"), ())

    def url(self, logical: str) -> str:
        return f"/static/{self._assets[logical].hashed}"

    def _prepare(self, logical: str, visiting: tuple[str, ...]) -> Asset:
        asset = self._assets.get(logical)
        if asset is not None:
            return asset
        raw = self._sources[logical]
        content_type = mimetypes.guess_type(logical)[0] or "application/octet-stream"
        if content_type == "text/javascript":
            content_type = "application/javascript"
        body = raw
        if logical.endswith((".js", ".css")):  # scripts import each other by URL: hash those first
            body = self._rewrite(raw.decode("utf-8"), (*visiting, logical)).encode("utf-8")
        digest = hashlib.sha256(body).hexdigest()[:HASH_CHARS]
        stem, dot, suffix = logical.rpartition(".")
        hashed = f"{stem}.{digest}.{suffix}" if dot else f"{logical}.{digest}"
        gzipped = None
        if content_type.startswith(TEXT_TYPES) and len(body) >= GZIP_MIN_BYTES:
            gzipped = gzip.compress(body, compresslevel=9, mtime=0)
        if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
            content_type += "; charset=utf-8"
        asset = Asset(logical, hashed, body, gzipped, content_type)
        self._assets[logical] = asset
        return asset

    def _rewrite(self, text: str, visiting: tuple[str, ...]) -> str:
        def hashed(match: re.Match[str]) -> str:
            path = match.group("path")
            if path not in self._sources or path in visiting:  # unknown, or an import cycle: keep the plain URL
                return match.group(0)
            quote = match.group("quote")
            return f"{quote}/static/{self._prepare(path, visiting).hashed}{quote}"

        return _REFERENCE.sub(hashed, text)
