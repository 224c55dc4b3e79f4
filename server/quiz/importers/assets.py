"""Image files an import brings along, under names that are safe to write beside the pool."""

from __future__ import annotations

import hashlib
import re

__all__ = ["Assets", "image_extension", "safe_stem"]


class Assets:
    """Image files collected from the bank, under sanitised, content-addressed names."""

    def __init__(self) -> None:
        self.files: list[tuple[str, bytes]] = []
        self._by_digest: dict[str, str] = {}

    def add(self, name: str, data: bytes, extension: str) -> str:
        """Register an image; returns its file name relative to the pool."""
        digest = hashlib.sha256(data).hexdigest()
        if digest in self._by_digest:
            return self._by_digest[digest]
        # The digest keeps two banks' "image.png" in one folder from overwriting each other.
        safe = f"{safe_stem(name)}-{digest[:10]}{extension}"
        self._by_digest[digest] = safe
        self.files.append((safe, data))
        return safe

    def mark(self) -> int:
        """A point to `rollback` to if the question being read is not imported."""
        return len(self.files)

    def rollback(self, mark: int) -> None:
        """Forget the images added since `mark`: a skipped question leaves no stray files."""
        for _, data in self.files[mark:]:
            del self._by_digest[hashlib.sha256(data).hexdigest()]
        del self.files[mark:]


_UNSAFE_NAME_CHARS_RE = re.compile(r"[^A-Za-z0-9_-]+")


def safe_stem(name: str) -> str:
    """A file stem with no path, no dots and only [A-Za-z0-9_-]: it cannot leave the folder."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    stem = _UNSAFE_NAME_CHARS_RE.sub("_", stem).strip("_-")[:60]
    return stem or "image"


def image_extension(data: bytes) -> str | None:
    """The pool's image types, told from the file's first bytes (not its name)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if data.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return ".gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return None
