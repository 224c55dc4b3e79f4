"""GIFT's syntax below the question: blocks, escapes, text formats and answer parts.

The parser (gift.py) works on blocks of consecutive non-blank lines whose escapes are
hidden: each escaped special becomes a Unicode noncharacter plus a filler, so that the
answer block's markers can be found with plain string searches while every offset still
maps to the instructor's line and column.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass

from .gift_meta import comment_prefix
from .text import parse_number

TEXT_FORMATS = ("moodle", "html", "plain", "markdown")

# Escaped specials are swapped for Unicode noncharacters (never valid in interchange)
# plus a filler, so that a 2-character escape stays 2 characters: offsets into the
# hidden text still map to the instructor's line and column.
_HIDDEN = {char: chr(0xFDD0 + index) for index, char in enumerate("\\~=#{}:\n")}
_FILLER = chr(0xFDDF)
_UNHIDE = str.maketrans({**{hidden: char for char, hidden in _HIDDEN.items()}, _FILLER: None})
_ESCAPE_RE = re.compile(r"\\([\\~=#{}:n])")
_NONCHARACTER_RE = re.compile("[\ufdd0-\ufdef]")
MARKER_RE = re.compile("[~=]")
EQUALS_RE = re.compile("=")


def hide_escapes(text: str) -> str:
    """`text` with each GIFT escape (``\\~ \\= \\# \\{ \\} \\: \\\\ \\n``) hidden, same length."""
    text = _NONCHARACTER_RE.sub("\ufffd", text)
    return _ESCAPE_RE.sub(lambda match: _HIDDEN["\n" if match[1] == "n" else match[1]] + _FILLER, text)


def unhide(text: str) -> str:
    """Hidden escapes back as the characters they stand for."""
    return text.translate(_UNHIDE)


@dataclass(slots=True)
class Block:
    """Consecutive non-blank lines: one question (or a $CATEGORY line)."""

    first_line: int
    text: str  # the lines joined by "\n", comment lines emptied, escapes hidden
    starts: list[int]  # offset in `text` where each line starts
    comments: list[tuple[int, str]]  # quizctl comment lines: (line number, the line as written)

    def line_at(self, offset: int) -> int:
        return self.first_line + bisect_right(self.starts, offset) - 1

    def column_at(self, offset: int) -> int:
        return offset - self.starts[bisect_right(self.starts, offset) - 1] + 1


def blocks(text: str) -> Iterator[Block]:
    """The blank-line-separated blocks of a GIFT file, in order."""
    lines: list[str] = []
    comments: list[tuple[int, str]] = []
    first = 0
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            if lines:
                yield _make_block(first, lines, comments)
                lines, comments = [], []
            continue
        if not lines:
            first = number
        # A comment line is emptied but kept, so that it neither ends the question
        # (as in Moodle) nor shifts the line numbers; quizctl's comments are kept aside
        # as written, before escapes are hidden (their JSON has backslashes of its own).
        stripped = line.lstrip()
        if stripped.startswith("//"):
            if comment_prefix(line) is not None:
                comments.append((number, line))
            lines.append("")
        else:
            lines.append(hide_escapes(line))
    if lines:
        yield _make_block(first, lines, comments)


def _make_block(first: int, lines: list[str], comments: list[tuple[int, str]]) -> Block:
    starts: list[int] = []
    offset = 0
    for line in lines:
        starts.append(offset)
        offset += len(line) + 1
    return Block(first, "\n".join(lines), starts, comments)


def skip_space(text: str, pos: int) -> int:
    """The first position at or after `pos` that is not whitespace."""
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def split_format(raw: str, default: str) -> tuple[str, str]:
    """``[html]text`` -> ("html", "text"); text without a known format keeps `default`."""
    stripped = raw.lstrip()
    if stripped.startswith("["):
        end = stripped.find("]", 1, 12)
        if end > 0 and stripped[1:end] in TEXT_FORMATS:
            return stripped[1:end], stripped[end + 1 :]
    return default, raw


def _weight(body: str) -> tuple[float | None, str]:
    """``%50%rest`` -> (50.0, "rest"); no weight -> (None, body)."""
    stripped = body.lstrip()
    if stripped.startswith("%"):
        end = stripped.find("%", 1)
        if end > 0:
            value = parse_number(stripped[1:end])
            if value is not None:
                return float(value), stripped[end + 1 :]
    return None, body


@dataclass(slots=True)
class Part:
    """One answer of an answer block: its marker, weight, text (escapes hidden), offset."""

    marker: str
    weight: float | None
    text: str
    offset: int


def split_parts(answers: str, base: int, markers: re.Pattern[str], *, weight_after_equals: bool = True) -> list[Part]:
    """Split an answer block at its markers; a blank piece before the first marker is dropped.

    In a choice question Moodle reads no weight after ``=`` (it is 100% by definition),
    so ``=%50%x`` there is the text "%50%x"; short and numeric answers do read one.
    """
    parts: list[Part] = []
    marker, start = "", 0
    for match in markers.finditer(answers):
        parts.append(Part(marker, None, answers[start : match.start()], base + start))
        marker, start = match.group(), match.end()
    parts.append(Part(marker, None, answers[start:], base + start))
    if parts and not parts[0].marker and not parts[0].text.strip():
        parts.pop(0)
    for part in parts:
        if part.marker != "=" or weight_after_equals:
            part.weight, part.text = _weight(part.text)
    return parts


def without_feedback(text: str) -> str:
    """An answer without its ``#feedback``."""
    return text.split("#", 1)[0]
