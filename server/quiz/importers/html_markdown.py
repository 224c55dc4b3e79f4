"""HTML to the pool's Markdown, for Moodle XML question text and GIFT's ``[html]`` format.

No raw HTML is ever passed through: every tag becomes Markdown or plain text, and text is
escaped so that nothing in it is read as Markdown or HTML. The tokenizer is written here
rather than taken from `html.parser`, whose tag scanning is quadratic on malformed input
(``"<a " * 30000`` takes minutes): this one only ever moves forward, so hostile HTML
costs linear time.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from html import unescape

from .text import collapse_spaces, escape_markdown, math_markdown, math_segments, parse_number

__all__ = ["HTML_MAX_CHARS", "HtmlImage", "html_to_markdown", "html_to_text"]

# One text's HTML; the pool allows 1,000 characters of text, so even heavy markup stays
# far below this. It also bounds the work one field can cost.
HTML_MAX_CHARS = 100_000


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
