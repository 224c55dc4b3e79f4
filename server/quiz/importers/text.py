"""Text helpers the bank parsers share: decoding, plain text and math to Markdown, numbers.

Question text in a bank is plain text (Aiken, GIFT's plain and moodle formats), HTML
(see html_markdown.py) or Markdown with MathJax delimiters; the pool's text is Markdown
with ``$..$`` and ``$$..$$`` math. Everything here runs in linear time on any input, so
that a hostile bank cannot hang an import.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from .problems import BankError, ImportProblem


def decode_text(data: str | bytes, source: str) -> str:
    """Bytes as text: UTF-8 with or without BOM (or UTF-16 with a BOM), newlines as ``\\n``."""
    if isinstance(data, bytes):
        data = _decode_bytes(data, source)
    elif data.startswith("\ufeff"):
        data = data[1:]
    # Only \r\n and \r: str.splitlines() would also split on form feeds and U+2028,
    # and line numbers would no longer match the instructor's editor.
    return data.replace("\r\n", "\n").replace("\r", "\n")


def _decode_bytes(data: bytes, source: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Excel's "Unicode text" and Notepad's "Unicode" are UTF-16 with a BOM.
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise BankError(
            [
                ImportProblem(
                    source,
                    line,
                    f"byte 0x{data[exc.start]:02x} is not UTF-8 text",
                    "save the file as UTF-8 (Excel: 'CSV UTF-8'; text editors: Save As, encoding UTF-8)",
                    column,
                )
            ]
        ) from None


_MATH_DELIMITERS = (("\\(", "\\)", False), ("\\[", "\\]", True), ("$$", "$$", True))
_MATHJAX_DELIMITERS = _MATH_DELIMITERS[:2]


def math_segments(
    text: str, delimiters: Sequence[tuple[str, str, bool]] = _MATH_DELIMITERS
) -> list[tuple[str, bool | None]]:
    """Split `text` into ``(text, None)`` and ``(math, display)`` pieces, in order.

    Linear time: each delimiter's next occurrence is remembered, and an opener with no
    closer after it means no later opener of that kind can close either.
    """
    if "\\" not in text and "$$" not in text:
        return [(text, None)]  # the common case, kept cheap for 5 MB banks
    pieces: list[tuple[str, bool | None]] = []
    next_at = {opener: text.find(opener) for opener, _, _ in delimiters}
    pos = 0
    while True:
        best: tuple[int, str, str, bool] | None = None
        for opener, closer, display in delimiters:
            at = next_at[opener]
            if 0 <= at < pos:
                at = next_at[opener] = text.find(opener, pos)
            if at >= 0 and (best is None or at < best[0]):
                best = (at, opener, closer, display)
        if best is None:
            break
        at, opener, closer, display = best
        end = text.find(closer, at + len(opener))
        if end < 0:
            next_at[opener] = -1
            continue
        pieces.append((text[pos:at], None))
        content = text[at + len(opener) : end].strip()
        if content:
            pieces.append((content, display))
        pos = end + len(closer)
    pieces.append((text[pos:], None))
    return pieces


def math_markdown(content: str, display: bool) -> str:
    """Math content in the pool's delimiters: ``$..$`` inline, ``$$..$$`` display."""
    return f"$${content}$$" if display else f"${content}$"


# Backslash escapes render as the bare character in CommonMark, so escaping more than
# strictly needed is harmless; these are the characters that start inline markup.
_INLINE_SPECIALS_RE = re.compile(r"[\\`*_\[\]<$]")
_ENTITY_RE = re.compile(r"&(?=#?[A-Za-z0-9]{1,32};)")
_LINE_START_RE = re.compile(r"^([ \t]*)([#>+\-=|~])", re.MULTILINE)
_ORDERED_LIST_RE = re.compile(r"^([ \t]*[0-9]{1,9})([.)])(?=\s|$)", re.MULTILINE)
# Anything any of the escapes above could touch; most question text has none of it.
_MAYBE_SPECIAL_RE = re.compile(r"[\\`*_\[\]<$&#>+=|~-]|[0-9][.)]")
_SPACE_RUN_RE = re.compile(r"[ \t]+")
_BLANK_LINES_RE = re.compile(r"\n{3,}")


def escape_markdown(text: str) -> str:
    """Plain text as Markdown that renders as the same text (no math handling)."""
    if not _MAYBE_SPECIAL_RE.search(text):
        return text
    text = _INLINE_SPECIALS_RE.sub(r"\\\g<0>", text)
    text = _ENTITY_RE.sub(r"\\&", text)
    text = _LINE_START_RE.sub(r"\1\\\2", text)
    return _ORDERED_LIST_RE.sub(r"\1\\\2", text)


def tidy_lines(text: str) -> str:
    """Strip each line and drop runs of blank lines: plain-text layout made Markdown-safe.

    Leading spaces would turn a line into a code block; trailing ones into a hard break.
    """
    lines = [line.strip() for line in text.split("\n")]
    return _BLANK_LINES_RE.sub("\n\n", "\n".join(lines)).strip()


def plain_to_markdown(text: str) -> str:
    """Plain text (GIFT's plain/moodle formats, Aiken) as Markdown; math delimiters converted."""
    parts: list[str] = []
    for piece, display in math_segments(tidy_lines(text)):
        parts.append(escape_markdown(piece) if display is None else math_markdown(piece, display))
    return "".join(parts)


def markdown_with_math(text: str) -> str:
    """Markdown whose MathJax ``\\( \\)`` / ``\\[ \\]`` math is rewritten to ``$`` / ``$$``."""
    parts: list[str] = []
    for piece, display in math_segments(text.strip(), _MATHJAX_DELIMITERS):
        parts.append(piece if display is None else math_markdown(piece, display))
    return "".join(parts)


def collapse_spaces(text: str) -> str:
    """Runs of spaces and tabs as one space, ends trimmed."""
    return _SPACE_RUN_RE.sub(" ", text).strip()


# ---------------------------------------------------------------- numbers

# No nested quantifiers: linear on any input.
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NUMBER_MAX_CHARS = 40


def parse_number(text: str) -> int | float | None:
    """A finite decimal number (``42``, ``-3.14``, ``1e-3``), or None.

    Whole numbers come back as `int`, so that ``1822`` is written back as ``1822``, not ``1822.0``.
    """
    text = text.strip()
    if len(text) > _NUMBER_MAX_CHARS or not _NUMBER_RE.fullmatch(text):
        return None
    if text.lstrip("+-").isdigit():
        return int(text)
    value = float(text)
    if not math.isfinite(value):
        return None
    # Moodle writes grades and answers as "2.0000000": keep whole numbers whole.
    return int(value) if value.is_integer() and abs(value) < 2**53 else value
