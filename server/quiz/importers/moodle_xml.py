"""Moodle XML question banks (Question bank > Export > Moodle XML format).

Imported: multichoice (single or multiple answers), truefalse, numerical (with tolerance
and base unit), shortanswer (``usecase`` 1 matches exactly) and the category path and
question tags as ``tags``.  Skipped with a warning naming the line (errors under
``strict``): matching, essay, cloze, description, drag-and-drop, calculated, random,
ordering and any other type.

Question text is HTML; `html_to_markdown` turns it into Markdown, never passing raw
HTML through.  Its tokenizer is written here rather than taken from `html.parser`,
whose tag scanning is quadratic on malformed input (``"<a " * 30000`` takes minutes):
this one only ever moves forward, so hostile HTML costs linear time.  Images embedded as ``<file encoding="base64">`` and referenced as
``@@PLUGINFILE@@/name.png`` become assets with sanitised names.

Safety: the file is parsed with expat directly (feeding an ElementTree `TreeBuilder`)
so that each ``<question>`` keeps its line number.  A DOCTYPE or ENTITY declaration is
refused outright, which rules out entity-expansion ("billion laughs") and external
entity attacks without needing defusedxml; Moodle never writes either.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from html import unescape
from typing import Any
from urllib.parse import unquote
from xml.parsers import expat

from . import (
    OPTION_KEYS,
    OPTIONS_MIN,
    UNIT_MAX_CHARS,
    ParsedBank,
    Problems,
    Question,
    collapse_spaces,
    decode_text,
    escape_markdown,
    markdown_with_math,
    math_markdown,
    math_segments,
    ordered,
    parse_number,
    plain_to_markdown,
    too_many_options_fix,
    vet_question,
)

__all__ = ["HtmlImage", "html_to_markdown", "html_to_text", "parse_moodle_xml"]

# Moodle XML nests about six levels deep; anything far deeper is hostile.
XML_MAX_DEPTH = 64
# One question's HTML; the pool allows 1,000 characters of text, so even heavy
# markup stays far below this.  It also bounds html.parser's worst cases.
HTML_MAX_CHARS = 100_000
IMAGE_MAX_BYTES = 2 * 1024 * 1024
PLUGINFILE = "@@PLUGINFILE@@/"
FULL_CREDIT = 99.9  # Moodle writes 100, older exports 99.99999 for thirds summed up

_SKIP_FIXES = {
    "matching": "rewrite it as several single-choice questions",
    "randomsamatch": "rewrite it as several single-choice questions",
    "essay": "use an open poll (type poll, open: true) for free-text answers, or leave it out",
    "description": "descriptions are not questions: move the text into the next question or leave it out",
    "multianswer": "split the embedded answers (cloze) into separate questions",
    "cloze": "split the embedded answers (cloze) into separate questions",
    "calculated": "rewrite it as a numeric question with fixed values",
    "calculatedsimple": "rewrite it as a numeric question with fixed values",
    "calculatedmulti": "rewrite it as a single-choice question with fixed values",
    "random": "export the questions of the category it draws from instead",
}
_SKIP_FIX_DEFAULT = "rewrite it as a single, multiple, true/false, numeric or short-answer question"


# ================================================================ HTML to Markdown


@dataclass(frozen=True, slots=True)
class HtmlImage:
    """An ``<img>`` found in HTML: its ``src`` and ``alt`` (None when missing or blank)."""

    src: str
    alt: str | None


def html_to_markdown(html: str) -> tuple[str, list[HtmlImage]]:
    """HTML as Markdown text, and the images it showed (removed from the text).

    Paragraphs, ``br``, ``strong``/``b``, ``em``/``i``, ``code``, ``pre`` (fenced),
    ``ul``/``ol``/``li``, links, headings (bold), block quotes and table rows are kept;
    ``sub``/``sup`` and other tags become their plain text.  Text is escaped so that
    nothing in it is read as Markdown or HTML; ``\\( \\)``, ``\\[ \\]`` and ``$$`` math
    becomes ``$..$`` / ``$$..$$``.  Callers bound the input to `HTML_MAX_CHARS`.
    """
    writer = _MarkdownWriter()
    for kind, name, attributes in _tokens(html):
        if kind == "data":
            writer.handle_data(name)
        elif kind == "start":
            writer.handle_starttag(name, attributes)
        elif kind == "startend":
            writer.handle_startendtag(name, attributes)
        else:
            writer.handle_endtag(name)
    return writer.result(), writer.images


def html_to_text(html: str) -> str:
    """The text of HTML, whitespace collapsed (for accepted answers and categories)."""
    parts: list[str] = []
    hidden = 0
    for kind, name, _ in _tokens(html):
        if kind == "data" and not hidden:
            parts.append(name)
        elif name in _HIDDEN_TAGS and kind in ("start", "end"):
            hidden = hidden + 1 if kind == "start" else max(0, hidden - 1)
    return collapse_spaces("".join(parts).replace("\xa0", " "))


# -------------------------------------------------------------- tokenizer

_TAG_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9:-]*")
_SPACE_RE = re.compile(r"[\s/]*")
_ATTRIBUTE_NAME_RE = re.compile(r"[^\s/>=]+")
_UNQUOTED_VALUE_RE = re.compile(r"[^\s>]*")
_RAW_TEXT_END_RES = {
    tag: re.compile(f"</{tag}", re.IGNORECASE)
    for tag in ("script", "style", "textarea", "title", "xmp", "template", "noscript")
}
_Token = tuple[str, str, dict[str, str]]


def _tokens(html: str) -> Iterator[_Token]:
    """("data", text, {}), ("start" | "startend", tag, attributes) and ("end", tag, {}).

    Every scan starts where the previous one stopped, and constructs left open at the
    end of the input (a comment, a tag, a quoted attribute) swallow the rest of it as
    HTML's own rules say, so the cost is linear whatever the input.
    """
    pos = text_start = 0
    length = len(html)
    while pos < length:
        lt = html.find("<", pos)
        if lt < 0:
            break
        following = html[lt + 1 : lt + 2]
        if not following or not (following.isascii() and (following.isalpha() or following in "!?/")):
            pos = lt + 1  # a "<" that starts nothing is text
            continue
        if lt > text_start:
            yield ("data", unescape(html[text_start:lt]), {})
        if following.isascii() and following.isalpha():
            pos, token = _start_tag(html, lt)
            if token is None:
                return
            yield token
            if token[0] == "start" and token[1] in _RAW_TEXT_END_RES:
                pos = yield from _raw_text(html, pos, token[1])
        elif following == "/" and html[lt + 2 : lt + 3].isascii() and html[lt + 2 : lt + 3].isalpha():
            match = _TAG_NAME_RE.match(html, lt + 2)
            assert match is not None  # the character after "</" is a letter
            end = html.find(">", match.end())
            if end < 0:
                return
            yield ("end", match.group().lower(), {})
            pos = end + 1
        elif html.startswith("<!--", lt):
            end = html.find("-->", lt + 4)
            pos = length if end < 0 else end + 3
        elif following in ("!", "?", "/"):
            end = html.find(">", lt + 2)  # doctype, CDATA, processing instruction: ignored
            pos = length if end < 0 else end + 1
        text_start = pos
    if text_start < length:
        yield ("data", unescape(html[text_start:]), {})


def _start_tag(html: str, lt: int) -> tuple[int, _Token | None]:
    """Read ``<name attr="v" ...>`` at `lt`; (position after it, token) or (end, None) at EOF."""
    match = _TAG_NAME_RE.match(html, lt + 1)
    assert match is not None  # the character after "<" is a letter
    name = match.group().lower()
    attributes: dict[str, str] = {}
    pos = match.end()
    length = len(html)
    while True:
        pos = _skip_space(html, pos)
        if pos >= length:
            return length, None
        if html[pos] == ">":
            kind = "startend" if html[pos - 1] == "/" else "start"
            return pos + 1, (kind, name, attributes)
        attribute = _ATTRIBUTE_NAME_RE.match(html, pos)
        if attribute is None:  # a stray "=": skip it
            pos += 1
            continue
        pos = attribute.end()
        value = ""
        after = _skip_space(html, pos)
        if html.startswith("=", after):
            pos = _skip_space(html, after + 1)
            quote = html[pos : pos + 1]
            if quote in ("'", '"'):
                close = html.find(quote, pos + 1)
                if close < 0:
                    return length, None
                value, pos = html[pos + 1 : close], close + 1
            else:
                unquoted = _UNQUOTED_VALUE_RE.match(html, pos)
                assert unquoted is not None  # [^\s>]* always matches
                value, pos = unquoted.group(), unquoted.end()
        attributes.setdefault(attribute.group().lower(), unescape(value))


def _skip_space(html: str, pos: int) -> int:
    match = _SPACE_RE.match(html, pos)
    return pos if match is None else match.end()


def _raw_text(html: str, pos: int, tag: str) -> Generator[_Token, None, int]:
    """Skip a script/style body; it ends at its closing tag (or the end of the input)."""
    found = _RAW_TEXT_END_RES[tag].search(html, pos)
    if found is None:
        return len(html)
    end = found.start()
    yield ("end", tag, {})
    close = html.find(">", end)
    return len(html) if close < 0 else close + 1


_BLOCK_TAGS = frozenset((
    "p", "div", "section", "article", "header", "footer", "aside", "nav", "main", "center", "address",
    "figure", "figcaption", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
    "ul", "ol", "li", "table", "thead", "tbody", "tfoot", "tr",
))  # fmt: skip
_STRONG_TAGS = frozenset(("strong", "b"))
_EM_TAGS = frozenset(("em", "i", "cite", "dfn", "var"))
_CODE_TAGS = frozenset(("code", "kbd", "samp", "tt"))
_FRAME_TAGS = _BLOCK_TAGS | _STRONG_TAGS | _EM_TAGS | _CODE_TAGS | {"a"}
_CONTAINER_TAGS = frozenset(("ul", "ol", "table", "thead", "tbody", "tfoot", "tr"))
_HIDDEN_TAGS = frozenset(("script", "style", "head", "title", "template", "noscript"))
_HEADINGS = frozenset(("h1", "h2", "h3", "h4", "h5", "h6"))
# Deeper markup is kept as text only: each frame copies its content into its parent,
# so unbounded nesting would cost depth x length.
_MAX_FRAMES = 48
_HTML_SPACE_RE = re.compile(r"[ \t\n\r\f\v]+")
_BACKTICK_RUN_RE = re.compile(r"`+")
_TRAILING_BACKSLASHES_RE = re.compile(r"\\+$")


class _Frame:
    """An open element whose Markdown depends on its whole content."""

    __slots__ = ("cells", "href", "marker", "parts", "tag")

    def __init__(self, tag: str, marker: str = "", href: str = "") -> None:
        self.tag = tag
        self.parts: list[str] = []
        self.marker = marker  # list item: "- " or "3. "; ordered list: the next number
        self.href = href
        self.cells = 0  # table row: cells seen so far


class _MarkdownWriter:
    """Builds Markdown from tokenizer events; open elements are a stack of frames."""

    def __init__(self) -> None:
        self.stack: list[_Frame] = [_Frame("#root")]
        self.images: list[HtmlImage] = []
        self.hidden = 0

    # -------------------------------------------------- events

    def handle_starttag(self, tag: str, attributes: dict[str, str]) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden += 1
            return
        if self.hidden:
            return
        if tag == "br":
            self._emit("\\\n")
        elif tag == "hr":
            self._emit("\n\n***\n\n")
        elif tag == "img":
            alt = collapse_spaces(attributes.get("alt", ""))
            self.images.append(HtmlImage(attributes.get("src", "").strip(), alt or None))
        elif tag in ("td", "th"):
            self._start_cell()
        elif tag in _FRAME_TAGS:
            self._open(tag, attributes)

    def handle_startendtag(self, tag: str, attributes: dict[str, str]) -> None:
        # <br/>, <img/>: never an open element, whatever the tag.
        if tag in _FRAME_TAGS or tag in _HIDDEN_TAGS:
            return
        self.handle_starttag(tag, attributes)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden = max(0, self.hidden - 1)
            return
        if self.hidden or tag not in _FRAME_TAGS:
            return
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                self._close_to(depth)
                return

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if self._inside("pre"):
            self._emit(data)
            return
        data = _HTML_SPACE_RE.sub(" ", data.replace("\xa0", " "))
        if data == " " and self.stack[-1].tag in _CONTAINER_TAGS:
            return  # indentation between <li>s or table cells
        if self._inside(*_CODE_TAGS):
            self._emit(data)
            return
        for piece, display in math_segments(data):
            self._emit(escape_markdown(piece) if display is None else math_markdown(piece, display))

    def result(self) -> str:
        """The finished Markdown (closes whatever the HTML left open)."""
        self._close_to(1)
        return _tidy_markdown("".join(self.stack[0].parts))

    # -------------------------------------------------- frames

    def _emit(self, text: str) -> None:
        parts = self.stack[-1].parts
        # "a <b> b</b>": the space before "b" moves outside the bold; print it once.
        if text.startswith(" ") and parts and parts[-1].endswith((" ", "\n")) and not self._inside("pre"):
            text = text[1:]
        parts.append(text)

    def _inside(self, *tags: str) -> bool:
        return any(frame.tag in tags for frame in self.stack)

    def _open(self, tag: str, attributes: dict[str, str]) -> None:
        if tag == "li":
            self._close_open_item()
        elif tag == "p" and self.stack[-1].tag == "p":
            self._close_to(len(self.stack) - 1)
        if len(self.stack) >= _MAX_FRAMES:
            return
        # Bold inside bold would print "****"; the outer frame already formats it.
        if (tag in _STRONG_TAGS and self._inside(*_STRONG_TAGS)) or (tag in _EM_TAGS and self._inside(*_EM_TAGS)):
            return
        frame = _Frame(tag, href=attributes.get("href", "").strip())
        if tag == "li":
            frame.marker = self._next_list_marker()
        elif tag == "ol":
            frame.marker = str(_start_number(attributes.get("start", "")))
        self.stack.append(frame)

    def _close_open_item(self) -> None:
        # <li>a<li>b: HTML closes the first item implicitly.
        for depth in range(len(self.stack) - 1, 0, -1):
            tag = self.stack[depth].tag
            if tag in ("ul", "ol"):
                return
            if tag == "li":
                self._close_to(depth)
                return

    def _next_list_marker(self) -> str:
        for frame in reversed(self.stack):
            if frame.tag == "ol":
                number = int(frame.marker)
                frame.marker = str(number + 1)
                return f"{number}. "
            if frame.tag == "ul":
                return "- "
        return "- "

    def _start_cell(self) -> None:
        for frame in reversed(self.stack):
            if frame.tag == "tr":
                if frame.cells:
                    self._emit(" | ")
                frame.cells += 1
                return

    def _close_to(self, depth: int) -> None:
        while len(self.stack) > depth:
            frame = self.stack.pop()
            self._emit(self._render(frame))

    def _render(self, frame: _Frame) -> str:
        content = "".join(frame.parts)
        tag = frame.tag
        if tag in _STRONG_TAGS:
            return _wrap(content, "**")
        if tag in _EM_TAGS:
            return _wrap(content, "*")
        if tag in _CODE_TAGS:
            return content if self._inside("pre") else _code_span(content)
        if tag == "a":
            return _link(content, frame.href)
        if tag == "pre":
            return "\n\n" + _fence(content) + "\n\n"
        if tag == "li":
            return _list_item(frame.marker, content)
        if tag in ("ul", "ol") and self._inside("li"):
            return "\n" + content.strip() + "\n"  # a nested list stays tight
        if tag in _HEADINGS:
            return "\n\n" + _wrap(content.strip(), "**") + "\n\n"
        if tag == "blockquote":
            return "\n\n" + _quote(content) + "\n\n"
        if tag == "tr":
            return "\n\n" + content.strip() + "\n\n"
        return "\n\n" + content.strip() + "\n\n"


def _start_number(text: str) -> int:
    number = parse_number(text)
    return number if isinstance(number, int) and 0 <= number < 10**6 else 1


def _wrap(content: str, marker: str) -> str:
    """Emphasis around the trimmed content, spaces kept outside (``** x**`` is not bold)."""
    inner = content.strip()
    if not inner or "\n" in inner:
        return content
    lead = " " if content[:1].isspace() else ""
    trail = " " if content[-1:].isspace() else ""
    return f"{lead}{marker}{inner}{marker}{trail}"


def _code_span(content: str) -> str:
    inner = content.strip()
    if not inner:
        return content
    longest = max((len(run) for run in _BACKTICK_RUN_RE.findall(inner)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if inner.startswith("`") or inner.endswith("`") else ""
    return f"{ticks}{pad}{inner}{pad}{ticks}"


def _fence(content: str) -> str:
    body = content.strip("\n")
    longest = max((len(run) for run in _BACKTICK_RUN_RE.findall(body)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}\n{body}\n{ticks}"


def _link(content: str, href: str) -> str:
    text = content.strip()
    if not href.lower().startswith(("http://", "https://", "mailto:")) or any(c in href for c in "<>\n "):
        return content
    if not text:
        return escape_markdown(href)
    return f"[{text}](<{href}>)"


def _list_item(marker: str, content: str) -> str:
    body = _tidy_markdown(content)
    indent = " " * len(marker)
    lines = body.split("\n")
    rest = [indent + line if line else line for line in lines[1:]]
    return "\n".join([marker + lines[0], *rest]) + "\n"


def _quote(content: str) -> str:
    return "\n".join("> " + line if line else ">" for line in _tidy_markdown(content).split("\n"))


def _tidy_markdown(text: str) -> str:
    lines = [line.rstrip() for line in text.split("\n")]
    kept: list[str] = []
    for index, line in enumerate(lines):
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if line.strip() == "\\":
            continue  # a <br> at the start of a block: nothing to break
        if not following.strip() and _ends_with_hard_break(line):
            line = line[:-1].rstrip()  # a <br> at the end of a block would print "\"
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip("\n")


def _ends_with_hard_break(line: str) -> bool:
    # An odd run of backslashes ends in an unescaped one: the hard line break.
    match = _TRAILING_BACKSLASHES_RE.search(line)
    return match is not None and len(match.group()) % 2 == 1


# ================================================================ XML


class _Refused(Exception):
    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


@dataclass(slots=True)
class _Document:
    root: ET.Element
    question_lines: list[int]


def _parse_document(data: str | bytes, problems: Problems) -> _Document:
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    parser.buffer_text = True
    question_lines: list[int] = []
    depth = 0

    def start(tag: str, attributes: dict[str, str]) -> None:
        nonlocal depth
        depth += 1
        if depth > XML_MAX_DEPTH:
            raise _Refused(f"elements nested more than {XML_MAX_DEPTH} deep", "export the bank from Moodle again")
        if depth == 2 and tag == "question":
            question_lines.append(parser.CurrentLineNumber)
        builder.start(tag, attributes)

    def end(tag: str) -> None:
        nonlocal depth
        depth -= 1
        builder.end(tag)

    def refuse_doctype(*_: Any) -> None:
        raise _Refused(
            "the file has a DOCTYPE; quizctl refuses DOCTYPE and ENTITY declarations (entity expansion attacks)",
            "export the bank from Moodle again, or delete the <!DOCTYPE ...> declaration",
        )

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = refuse_doctype
    try:
        parser.Parse(data, True)
        root = builder.close()
    except _Refused as refused:
        problems.error(parser.CurrentLineNumber, refused.message, refused.fix, parser.CurrentColumnNumber + 1)
        raise problems.fail_now() from None
    except expat.ExpatError as exc:
        message = expat.ErrorString(exc.code) if exc.code else str(exc)
        problems.error(
            exc.lineno, f"not well-formed XML: {message}", "export the bank from Moodle again", exc.offset + 1
        )
        raise problems.fail_now() from None
    except (UnicodeError, ValueError, AssertionError) as exc:  # str input with lone surrogates; empty tree
        problems.error(1, f"cannot read the XML: {exc}", "export the bank from Moodle again as Moodle XML")
        raise problems.fail_now() from None
    return _Document(root, question_lines)


def parse_moodle_xml(data: str | bytes, source: str, *, strict: bool = False) -> ParsedBank:
    """Parse a Moodle XML bank; `BankError` lists every problem with its line."""
    problems = Problems(source, strict=strict)
    if isinstance(data, str):
        data = decode_text(data, source)
    document = _parse_document(data, problems)
    if document.root.tag != "quiz":
        problems.error(
            1,
            f"the root element is <{document.root.tag}>, not <quiz>: not a Moodle XML question bank",
            "in Moodle, use Question bank > Export with 'Moodle XML format'",
        )
        raise problems.fail_now()
    reader = _BankReader(problems)
    questions = [element for element in document.root if element.tag == "question"]
    for element, line in zip(questions, document.question_lines, strict=False):
        reader.read(element, line)
    return problems.finish(reader.questions, reader.assets.files)


# ================================================================ questions


class _Assets:
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
        safe = f"{_safe_stem(name)}-{digest[:10]}{extension}"
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


def _safe_stem(name: str) -> str:
    """A file stem with no path, no dots and only [A-Za-z0-9_-]: it cannot leave the folder."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    stem = _UNSAFE_NAME_CHARS_RE.sub("_", stem).strip("_-")[:60]
    return stem or "image"


def _image_extension(data: bytes) -> str | None:
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


@dataclass(frozen=True, slots=True)
class _Image:
    """An image that made it into the assets."""

    asset: str  # the sanitised file name, relative to the pool
    original: str  # the file name in Moodle, for messages and the alt-text fallback
    alt: str | None


@dataclass(slots=True)
class _Rich:
    """Converted text of one field, with the images it referenced already resolved."""

    markdown: str
    images: list[_Image]


class _ImageError(Exception):
    """An image the pool cannot carry; the question is skipped (error under strict)."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


class _BankReader:
    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self.questions: list[Question] = []
        self.assets = _Assets()
        self.category: str | None = None

    def read(self, element: ET.Element, line: int) -> None:
        """Convert one <question> and append it, or report why not."""
        qtype = (element.get("type") or "").strip()
        if qtype == "category":
            self._set_category(element)
            return
        readers = {
            "multichoice": self._multichoice,
            "truefalse": self._truefalse,
            "numerical": self._numerical,
            "shortanswer": self._shortanswer,
        }
        reader = readers.get(qtype)
        if reader is None:
            kind = f"a Moodle '{qtype}' question" if qtype else "a <question> without a type"
            self.problems.skip(line, kind, _SKIP_FIXES.get(qtype, _SKIP_FIX_DEFAULT))
            return
        mark = self.assets.mark()
        try:
            question = reader(element, line)
        except _ImageError as bad:
            question = None
            self.problems.skip(line, f"a '{qtype}' question whose image {bad.message}", bad.fix)
        if question is None or not self._finish(question, element, line):
            self.assets.rollback(mark)

    # -------------------------------------------------- shared parts

    def _set_category(self, element: ET.Element) -> None:
        path = collapse_spaces(_child_text(element.find("category")))
        self.category = path or None

    def _finish(self, question: Question, element: ET.Element, line: int) -> bool:
        tags = [self.category] if self.category else []
        for tag in element.findall("tags/tag"):
            text = collapse_spaces(_child_text(tag))
            if text and text not in tags:
                tags.append(text)
        if tags:
            question["tags"] = tags
        points = parse_number(element.findtext("defaultgrade") or "")
        if points is not None and points > 0 and points != 1:
            question["points"] = points
        if not vet_question(question, line, self.problems):
            return False
        self.questions.append(ordered(question))
        return True

    def _stem(self, element: ET.Element, qtype: str, line: int) -> Question:
        """type, text, image and explanation: the parts every question type has."""
        rich = self._rich(element.find("questiontext"), "html", line)
        question: Question = {"type": qtype, "text": rich.markdown}
        images = rich.images or self._legacy_image(element)
        if images:
            question["image"] = images[0].asset
            question["image_alt"] = self._alt(images[0], line)
            for extra in images[1:]:
                self.problems.warn(
                    line,
                    f"image {extra.original} dropped: a question shows one image",
                    "merge the images into one figure",
                )
        feedback = self._rich(element.find("generalfeedback"), "html", line, images_allowed=False)
        if feedback.markdown:
            question["explanation"] = feedback.markdown
        return question

    def _alt(self, image: _Image, line: int) -> str:
        if image.alt:
            return image.alt
        self.problems.warn(
            line,
            f"image {image.original} has no alt text; its file name stands in",
            "describe the image in Moodle's image dialog ('Describe this image') and export again",
        )
        base = image.original.replace("\\", "/").rsplit("/", 1)[-1]
        return collapse_spaces(base.rsplit(".", 1)[0] if "." in base else base) or "image"

    def _rich(
        self, element: ET.Element | None, default_format: str, line: int, *, images_allowed: bool = True
    ) -> _Rich:
        if element is None:
            return _Rich("", [])
        fmt = (element.get("format") or default_format).strip()
        raw = _child_text(element)
        if fmt == "markdown":
            return _Rich(markdown_with_math(raw), [])
        if fmt != "html":
            # moodle_auto_format and plain_text are read as plain text.
            return _Rich(plain_to_markdown(raw), [])
        if len(raw) > HTML_MAX_CHARS:
            self.problems.error(
                line, f"{len(raw)} characters of HTML in one field", "shorten the question text in Moodle"
            )
            return _Rich("", [])
        markdown, found = html_to_markdown(raw)
        images: list[_Image] = []
        for image in found:
            if not images_allowed:
                self.problems.warn(line, f"image {image.src[:80]} in feedback dropped", "describe it in words instead")
                continue
            images.append(self._resolve(image, element))
        return _Rich(markdown, images)

    def _resolve(self, image: HtmlImage, element: ET.Element) -> _Image:
        src = image.src
        if not src.startswith(PLUGINFILE):
            raise _ImageError(
                f"{src[:80]!r} is not embedded in the bank",
                "upload the image into the question in Moodle (not a link) and export again",
            )
        wanted = unquote(src[len(PLUGINFILE) :].split("?", 1)[0])
        path, _, name = wanted.rpartition("/")
        path = f"/{path}/" if path else "/"
        files = element.findall("file")
        # Moodle writes <file name="x.png" path="/sub/"> for "@@PLUGINFILE@@/sub/x.png".
        candidates = [f for f in files if f.get("name") == name]
        matches = (
            [f for f in candidates if (f.get("path") or "/") == path]
            or candidates
            or [f for f in files if f.get("name") == wanted]
        )
        if not matches:
            raise _ImageError(f"{name} is missing from the file", "export the bank from Moodle again")
        return _Image(self._decode_image(name, "".join(matches[0].itertext())), name, image.alt)

    def _decode_image(self, name: str, encoded: str) -> str:
        # Base64 is 4 characters per 3 bytes: refuse oversized images before decoding.
        if len(encoded) > IMAGE_MAX_BYTES * 4 // 3 + 4096:
            raise _ImageError(f"{name} is larger than 2 MiB", "shrink the image below 2 MiB in Moodle and export again")
        try:
            data = base64.b64decode("".join(encoded.split()), validate=True)
        except (binascii.Error, ValueError):
            raise _ImageError(f"{name} is not valid base64", "export the bank from Moodle again") from None
        extension = _image_extension(data)
        if extension is None:
            raise _ImageError(
                f"{name} is not a PNG, JPEG, WebP or GIF file", "convert the image to PNG in Moodle and export again"
            )
        if len(data) > IMAGE_MAX_BYTES:
            raise _ImageError(f"{name} is larger than 2 MiB", "shrink the image below 2 MiB in Moodle and export again")
        return self.assets.add(name, data, extension)

    def _legacy_image(self, element: ET.Element) -> list[_Image]:
        # Moodle 1.9 kept one image per question in <image> and <image_base64>.
        encoded = element.findtext("image_base64")
        name = (element.findtext("image") or "").strip()
        if not encoded or not encoded.strip():
            return []
        return [_Image(self._decode_image(name or "image", encoded), name or "image", None)]

    def _fraction(self, answer: ET.Element, line: int) -> float | None:
        raw = answer.get("fraction", "0")
        value = parse_number(raw)
        if value is None:
            self.problems.error(line, f"answer fraction {raw[:20]!r} is not a number", "use a grade such as 100 or 0")
        return None if value is None else float(value)

    def _partial_credit(self, line: int, count: int) -> None:
        if count:
            self.problems.warn(
                line,
                f"{count} answer(s) with partial credit: quizctl scores only fully right answers",
                "give those answers 100% or 0% in Moodle if that matters",
            )

    # -------------------------------------------------- types

    def _multichoice(self, element: ET.Element, line: int) -> Question | None:
        single = (element.findtext("single") or "true").strip().lower() in ("true", "1")
        question = self._stem(element, "single" if single else "multiple", line)
        options: list[Any] = []
        fractions: list[float] = []
        for answer in element.findall("answer"):
            fraction = self._fraction(answer, line)
            rich = self._rich(answer, "html", line)
            if fraction is None or (not rich.markdown and not rich.images):
                continue  # an unused answer slot
            options.append(self._option(rich, line))
            fractions.append(fraction)
        if not self._option_count_ok(len(options), line):
            return None
        question["options"] = dict(zip(OPTION_KEYS, options, strict=False))
        right = [key for key, fraction in zip(OPTION_KEYS, fractions, strict=False) if fraction >= FULL_CREDIT]
        partial = [f for f in fractions if 0 < f < FULL_CREDIT]
        if single:
            if len(right) != 1:
                self.problems.error(
                    line,
                    f"a one-answer multichoice question needs exactly one answer at 100%, found {len(right)}",
                    "give one answer 100% in Moodle, or allow multiple answers",
                )
                return None
            question["correct"] = right[0]
            self._partial_credit(line, len(partial))
            return question
        correct = [key for key, fraction in zip(OPTION_KEYS, fractions, strict=False) if fraction > 0]
        if not correct:
            self.problems.error(line, "no answer has a positive grade", "give the right answers positive grades")
            return None
        question["correct"] = correct
        return question

    def _option(self, rich: _Rich, line: int) -> Any:
        if not rich.images:
            return rich.markdown
        image = rich.images[0]
        alt = self._alt(image, line)
        return {"text": rich.markdown or escape_markdown(alt), "image": image.asset, "image_alt": alt}

    def _option_count_ok(self, count: int, line: int) -> bool:
        if count > len(OPTION_KEYS):
            self.problems.error(
                line, f"{count} answers; quizctl shows at most {len(OPTION_KEYS)} (A-F)", too_many_options_fix(count)
            )
            return False
        if count < OPTIONS_MIN:
            self.problems.error(line, f"{count} answer(s); a choice question needs at least 2", "add answers")
            return False
        return True

    def _truefalse(self, element: ET.Element, line: int) -> Question | None:
        question = self._stem(element, "true_false", line)
        for answer in element.findall("answer"):
            fraction = self._fraction(answer, line)
            value = _child_text(answer).strip().lower()
            if fraction is not None and fraction >= FULL_CREDIT and value in ("true", "false"):
                question["correct"] = value == "true"
                return question
        self.problems.error(line, "neither 'true' nor 'false' is graded 100%", "mark the right answer 100% in Moodle")
        return None

    def _numerical(self, element: ET.Element, line: int) -> Question | None:
        question = self._stem(element, "numeric", line)
        chosen: tuple[int | float, int | float] | None = None
        partial = 0
        for answer in element.findall("answer"):
            fraction = self._fraction(answer, line)
            raw = _child_text(answer).strip()
            if fraction is None or raw == "*" or fraction <= 0:
                continue  # "*" is Moodle's catch-all for feedback on any other answer
            value = parse_number(raw)
            tolerance = parse_number(answer.findtext("tolerance") or "0")
            if value is None or tolerance is None or tolerance < 0:
                self.problems.error(
                    line, f"numerical answer {raw[:30]!r} or its tolerance is not a number", "use numbers like 3.14"
                )
                return None
            if fraction < FULL_CREDIT:
                partial += 1
            elif chosen is None:
                chosen = (value, tolerance)
        if chosen is None:
            self.problems.error(line, "no numerical answer is graded 100%", "grade the right answer 100% in Moodle")
            return None
        question["correct"] = chosen[0]
        if chosen[1]:
            question["tolerance"] = chosen[1]
        self._partial_credit(line, partial)
        unit = self._unit(element, line)
        if unit:
            question["unit"] = unit
        return question

    def _unit(self, element: ET.Element, line: int) -> str | None:
        units = element.findall("units/unit")
        for unit in units:
            if parse_number(unit.findtext("multiplier") or "1") == 1:
                name = collapse_spaces(unit.findtext("unit_name") or "")
                if len(units) > 1:
                    self.problems.warn(
                        line, f"only the base unit {name!r} is kept", "state other units in the question text"
                    )
                return name[:UNIT_MAX_CHARS] or None
        return None

    def _shortanswer(self, element: ET.Element, line: int) -> Question | None:
        question = self._stem(element, "text", line)
        accept: list[str] = []
        partial = 0
        for answer in element.findall("answer"):
            fraction = self._fraction(answer, line)
            raw = _child_text(answer)
            text = html_to_text(raw) if answer.get("format") == "html" else collapse_spaces(raw)
            if fraction is None or fraction <= 0 or not text:
                continue
            if fraction < FULL_CREDIT:
                partial += 1
                continue
            if "*" in text.replace("\\*", ""):
                self.problems.warn(
                    line,
                    f"answer {text[:40]!r} uses Moodle's * wildcard; quizctl matches it as written",
                    "list the accepted spellings instead of a wildcard",
                )
            text = text.replace("\\*", "*")
            if text not in accept:
                accept.append(text)
        if not accept:
            self.problems.error(line, "no answer is graded 100%", "grade at least one answer 100% in Moodle")
            return None
        question["accept"] = accept
        if (element.findtext("usecase") or "0").strip() == "1":
            question["match"] = "exact"
        self._partial_credit(line, partial)
        return question


def _child_text(element: ET.Element | None) -> str:
    """The text of an element's <text> child ("" when absent)."""
    if element is None:
        return ""
    child = element.find("text")
    return "" if child is None else "".join(child.itertext())
