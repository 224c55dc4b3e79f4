"""Images that questions carry through the pool's `image` field, read and checked at pool load."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from server.quiz.content.errors import ContentError

IMAGE_MAX_BYTES = 2 * 1024 * 1024
MEDIA_URL_PREFIX = "/media/"
MEDIA_NAME_HEX_CHARS = 16

# The file's first bytes decide its type, never its name: (content type, URL extension, test).
_SIGNATURES: tuple[tuple[str, str, tuple[tuple[int, bytes], ...]], ...] = (
    ("image/png", "png", ((0, b"\x89PNG\r\n\x1a\n"),)),
    ("image/jpeg", "jpg", ((0, b"\xff\xd8\xff"),)),
    ("image/gif", "gif", ((0, b"GIF87a"),)),
    ("image/gif", "gif", ((0, b"GIF89a"),)),
    ("image/webp", "webp", ((0, b"RIFF"), (8, b"WEBP"))),
)
_EXTENSIONS = {content_type: extension for content_type, extension, _ in _SIGNATURES}


@dataclass(frozen=True, slots=True)
class PoolImage:
    """One checked image file: its bytes, type, alt text and the content-addressed URL it is served at."""

    sha256: str
    content_type: str
    size: int
    data: bytes = field(repr=False)
    alt: str
    relative: str = ""  # the path as the pool wrote it, for writing the pool back

    @property
    def url(self) -> str:
        """`/media/<first 16 hex digits of the SHA-256>.<ext>`: the same file always has the same URL."""
        return f"{MEDIA_URL_PREFIX}{self.sha256[:MEDIA_NAME_HEX_CHARS]}.{_EXTENSIONS[self.content_type]}"


def load_image(pool_dir: Path, relative: str, alt: str | None) -> PoolImage:
    """Read the image `relative` to the pool's folder, or raise ContentError saying what to fix.

    Refused: no alt text; a path that leaves the pool's folder (absolute, `..`, or a symlink
    pointing outside); a missing file; a file over 2 MiB; a file whose first bytes are not
    PNG, JPEG, WebP or GIF, whatever its name says.
    """
    alt_text = (alt or "").strip()
    if not alt_text:
        raise ContentError(
            f"image {relative!r} has no alternative text",
            fix="add image_alt: a short description of the image for students who cannot see it",
        )
    if not relative.strip():
        raise ContentError("the image path is empty", fix="give the image file's path relative to the pool file")
    base = pool_dir.resolve()
    if Path(relative).is_absolute():
        raise ContentError(
            f"image path {relative!r} is absolute", fix="give the path relative to the pool file's folder"
        )
    path = (base / relative).resolve()
    if not path.is_relative_to(base):
        raise ContentError(
            f"image path {relative!r} leads outside the pool's folder",
            fix="copy the image into the pool's folder (or a subfolder) and refer to it from there",
        )
    if not path.is_file():
        raise ContentError(f"image file {relative!r} not found", fix=f"check the name; it is looked for in {base}")
    with path.open("rb") as file:
        data = file.read(IMAGE_MAX_BYTES + 1)  # reading one byte more than allowed is enough to know
    if len(data) > IMAGE_MAX_BYTES:
        raise ContentError(
            f"image {relative!r} is larger than 2 MiB",
            fix="shrink it, e.g. export it at most 1600 pixels wide, or as JPEG or WebP",
        )
    content_type = _content_type(data)
    if content_type is None:
        raise ContentError(
            f"image {relative!r} is not a PNG, JPEG, WebP or GIF file", fix="export it as PNG, JPEG, WebP or GIF"
        )
    return PoolImage(
        sha256=hashlib.sha256(data).hexdigest(),
        content_type=content_type,
        size=len(data),
        data=data,
        alt=alt_text,
        relative=relative,
    )


def _content_type(data: bytes) -> str | None:
    for content_type, _extension, tests in _SIGNATURES:
        if all(data[offset : offset + len(magic)] == magic for offset, magic in tests):
            return content_type
    return None
