"""Question Markdown to safe HTML and to plain text.

CommonMark (markdown-it-py) with raw HTML off, tables, strikethrough, `$…$` / `$$…$$` math
(mdit-py-plugins' dollarmath, pandoc rules: `$5 and $10` stays text) and fenced code. The
HTML is written here token by token rather than by markdown-it's renderer, so every element
and attribute in the output is one this module chose; `sanitize.clean` then enforces that.

Choices a lecturer will notice:
- links are text: `[notes](https://x.org)` shows "notes (https://x.org)", because nothing on a
  student's phone may navigate away during a quiz; only http, https and mailto URLs are shown;
- `![alt](src)` shows its alt text: images come through the pool's `image` field;
- headings start at h3 (`#` is h3, `###` and deeper are h5/h6), below the page's own headings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin

from server.quiz.content.errors import ContentError
from server.quiz.content.formulas import FormulaError, to_mathml
from server.quiz.content.highlight import LANGUAGE_CLASS_PREFIX, highlight, language_tag
from server.quiz.content.sanitize import CODE_BLOCK_CLASS, clean

LINK_SCHEMES = ("http:", "https:", "mailto:")
HEADING_SHIFT = 2

# Short texts (option labels) keep only the blocks that cannot appear by accident: "- 5",
# "1. Paris" or "# of items" stay text, while a fenced code block or display formula still works.
_SHORT_TEXT_BLOCKS = ("fence", "math_block", "paragraph")
_SIMPLE_TAGS = {
    "em": "em",
    "strong": "strong",
    "s": "s",
    "blockquote": "blockquote",
    "bullet_list": "ul",
    "list_item": "li",
    "table": "table",
    "thead": "thead",
    "tbody": "tbody",
    "tr": "tr",
}
_ALIGN_RE = re.compile(r"text-align:(left|center|right)")


def _parser(*, short_text: bool) -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False})
    parser.enable(["table", "strikethrough"])
    dollarmath_plugin(
        parser, allow_labels=False, allow_space=False, allow_digits=False, allow_blank_lines=False, double_inline=True
    )
    if short_text:
        parser.block.ruler.enableOnly(list(_SHORT_TEXT_BLOCKS))
    return parser


# Parsers are configuration, not caches: each parse keeps its state in its own call.
_DOCUMENT_PARSER = _parser(short_text=False)
_SHORT_TEXT_PARSER = _parser(short_text=True)


def render(source: str, *, inline: bool = False) -> str:
    """Render question Markdown to a sanitized HTML fragment; raise ContentError for the first problem.

    `inline=True` is for option labels and other short texts: no `<p>` around the text
    (paragraphs are joined by `<br>`), and only fenced code and `$$` display math are read
    as blocks, so a label like "- 5" or "1. Paris" is shown as written.
    """
    html, problems = _render(source, inline=inline)
    if problems:
        raise problems[0]
    return html


def check(source: str, *, inline: bool = False) -> list[ContentError]:
    """Every problem `render(source, inline=inline)` would stop at, in source order, without raising."""
    return _render(source, inline=inline)[1]


def plain(source: str, *, inline: bool = False) -> str:
    """The text without Markdown syntax, for CSV exports, the terminal and screen-reader labels.

    Formulas stay as their LaTeX source with their dollar signs (`$\\frac{a}{b}$`), code keeps
    its text, links read "text (URL)", list items start with "- " or "1. ", and blocks are
    separated by newlines. Never raises.
    """
    tokens = _parse(source, inline=inline)
    writer = _TextWriter()
    writer.blocks(tokens)
    return writer.text()


def _normalize(source: str) -> str:
    # What markdown-it does first, done here too so that offsets found in it match token content.
    return source.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "\ufffd")


def _parse(source: str, *, inline: bool) -> list[Token]:
    parser = _SHORT_TEXT_PARSER if inline else _DOCUMENT_PARSER
    return parser.parse(_normalize(source))


def _render(source: str, *, inline: bool) -> tuple[str, list[ContentError]]:
    tokens = _parse(source, inline=inline)
    writer = _HtmlWriter(_Locator(_normalize(source)), short_text=inline)
    writer.blocks(tokens)
    return clean("".join(writer.out)), writer.problems


def _shown_url(href: str) -> str | None:
    """The URL to print after a link's text, or None for schemes a student should not see."""
    if href.lower().startswith(LINK_SCHEMES):
        return _DOCUMENT_PARSER.normalizeLinkText(href)
    return None


def _is_autolink(token: Token) -> bool:
    return token.markup == "autolink" or token.info == "auto"


class _Locator:
    """Finds formulas in the source, in document order, to give their problems a line and column."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.line_starts = [0] + [index + 1 for index, char in enumerate(source) if char == "\n"]
        self.cursor = 0

    def locate(self, formula: str, marker: str, *, block: bool, block_line: int, offset: int) -> tuple[int, int | None]:
        """Line and column (1-based) of `formula[offset]`.

        `marker` is the formula's delimiter (`$` or `$$`), `block` says whether it is a `$$`
        block (delimiters on their own lines), `block_line` the 0-based line its block starts on.
        """
        start_from = max(self.cursor, self.line_starts[min(block_line, len(self.line_starts) - 1)])
        if block:
            anchor = self.source.find(marker, start_from)
            start = self.source.find(formula, anchor + len(marker)) if anchor >= 0 else -1
        else:
            start = self.source.find(marker + formula + marker, start_from)
            start = start + len(marker) if start >= 0 else -1
        if start >= 0:
            self.cursor = start + len(formula)
            return self._position(start + offset)
        # The formula spans lines of a list item or quote whose prefixes markdown-it removed;
        # the line with the problem is still verbatim in the source.
        line_index = formula.count("\n", 0, offset)
        line_offset = formula.rfind("\n", 0, offset) + 1
        line_text = formula[line_offset:].split("\n", 1)[0]
        found = self.source.find(line_text, start_from) if line_text.strip() else -1
        if found < 0:
            return block_line + 1 + line_index, None
        self.cursor = found + len(line_text)
        return self._position(found + offset - line_offset)

    def _position(self, index: int) -> tuple[int, int]:
        low, high = 0, len(self.line_starts) - 1
        while low < high:  # the last line start at or before index
            middle = (low + high + 1) // 2
            if self.line_starts[middle] <= index:
                low = middle
            else:
                high = middle - 1
        return low + 1, index - self.line_starts[low] + 1


class _HtmlWriter:
    """Writes the HTML for markdown-it tokens; everything not written as a tag is escaped text."""

    def __init__(self, locator: _Locator, *, short_text: bool) -> None:
        self.locator = locator
        self.short_text = short_text
        self.out: list[str] = []
        self.problems: list[ContentError] = []
        self.block_line = 0
        self.paragraphs = 0
        self.links: list[Token] = []

    def blocks(self, tokens: Sequence[Token]) -> None:
        for token in tokens:
            if token.map is not None:
                self.block_line = token.map[0]
            self.block(token)

    def block(self, token: Token) -> None:
        kind = token.type
        if kind == "inline":
            self.inlines(token.children or [])
        elif kind in ("paragraph_open", "paragraph_close"):
            self.paragraph(token)
        elif kind in ("heading_open", "heading_close"):
            level = min(int(token.tag[1]) + HEADING_SHIFT, 6)
            self.out.append(f"<h{level}>" if token.nesting == 1 else f"</h{level}>")
        elif kind == "ordered_list_open":
            start = token.attrs.get("start")
            self.out.append(f'<ol start="{int(start)}">' if isinstance(start, int) and start != 1 else "<ol>")
        elif kind == "ordered_list_close":
            self.out.append("</ol>")
        elif kind in ("th_open", "td_open"):
            align = _ALIGN_RE.search(str(token.attrs.get("style", "")))
            self.out.append(f'<{token.tag} class="align-{align.group(1)}">' if align else f"<{token.tag}>")
        elif kind in ("th_close", "td_close"):
            self.out.append(f"</{token.tag}>")
        elif kind == "hr":
            self.out.append("<hr>")
        elif kind == "fence":
            self.code_block(token.content, language_tag(token.info))
        elif kind == "code_block":
            self.code_block(token.content, None)
        elif kind == "math_block":
            self.formula(token, display=True)
        elif not self.simple_tag(token):
            self.out.append(escape(token.content, quote=False))

    def paragraph(self, token: Token) -> None:
        if self.short_text:
            if token.nesting == 1:
                if self.paragraphs:
                    self.out.append("<br>")
                self.paragraphs += 1
        elif not token.hidden:  # paragraphs in tight lists are hidden: no <p> inside the <li>
            self.out.append("<p>" if token.nesting == 1 else "</p>")

    def simple_tag(self, token: Token) -> bool:
        base = token.type.removesuffix("_open").removesuffix("_close")
        tag = _SIMPLE_TAGS.get(base)
        if tag is None or token.nesting == 0:
            return False
        self.out.append(f"<{tag}>" if token.nesting == 1 else f"</{tag}>")
        return True

    def code_block(self, code: str, language: str | None) -> None:
        code_class = f' class="{LANGUAGE_CLASS_PREFIX}{language}"' if language else ""
        self.out.append(f'<pre class="{CODE_BLOCK_CLASS}"><code{code_class}>{highlight(code, language)}</code></pre>')

    def formula(self, token: Token, *, display: bool) -> None:
        latex = token.content
        try:
            self.out.append(to_mathml(latex, display=display))
        except FormulaError as error:
            line, column = self.locator.locate(
                latex, token.markup, block=token.block, block_line=self.block_line, offset=error.offset or 0
            )
            self.problems.append(ContentError(error.message, fix=error.fix, line=line, column=column))
            self.out.append(f"<code>{escape(latex, quote=False)}</code>")
        else:  # moves the locator past this formula, so that a later duplicate is not found here
            self.locator.locate(latex, token.markup, block=token.block, block_line=self.block_line, offset=0)

    def inlines(self, tokens: Sequence[Token]) -> None:
        for token in tokens:
            kind = token.type
            if kind == "text":
                self.out.append(escape(token.content, quote=False))
            elif kind == "softbreak":
                self.out.append("\n")
            elif kind == "hardbreak":
                self.out.append("<br>")
            elif kind == "code_inline":
                self.out.append(f"<code>{escape(token.content, quote=False)}</code>")
            elif kind == "math_inline":
                self.formula(token, display=False)
            elif kind == "math_inline_double":
                self.formula(token, display=True)
            elif kind == "link_open":
                self.links.append(token)
            elif kind == "link_close":
                self.link_close()
            elif kind == "image":
                self.out.append(escape(_children_text(token), quote=False))
            elif not self.simple_tag(token):
                self.out.append(escape(token.content, quote=False))

    def link_close(self) -> None:
        opening = self.links.pop() if self.links else None
        if opening is None or _is_autolink(opening):
            return
        url = _shown_url(str(opening.attrs.get("href", "")))
        if url is not None:
            self.out.append(f" ({escape(url, quote=False)})")


def _children_text(token: Token) -> str:
    """The plain text of an inline token's children (an image's alt text)."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(_children_text(child))
        else:
            parts.append(child.content)
    return "".join(parts)


class _TextWriter:
    """Writes plain text for markdown-it tokens: the source's words without its Markdown syntax."""

    def __init__(self) -> None:
        self.blocks_text: list[str] = []
        self.line: list[str] = []
        self.lists: list[list[int]] = []  # per open list: [next number] for ordered, [] for bullets
        self.prefix = ""
        self.cells: list[str] | None = None
        self.links: list[Token] = []

    def text(self) -> str:
        self.end_line()
        return "\n".join(self.blocks_text).strip("\n")

    def end_line(self) -> None:
        text = "".join(self.line).rstrip()
        if text:
            self.blocks_text.append(self.prefix + text)
            self.prefix = ""
        self.line = []

    def blocks(self, tokens: Sequence[Token]) -> None:
        for token in tokens:
            kind = token.type
            if kind == "inline":
                self.inlines(token.children or [])
            elif kind in ("paragraph_close", "heading_close", "hr"):
                self.end_line()
            elif kind in ("bullet_list_open", "ordered_list_open"):
                start = token.attrs.get("start", 1)
                self.lists.append([int(start)] if kind == "ordered_list_open" and isinstance(start, int) else [])
            elif kind in ("bullet_list_close", "ordered_list_close"):
                self.lists.pop()
            elif kind == "list_item_open":
                self.end_line()
                numbering = self.lists[-1] if self.lists else []
                self.prefix = "  " * (len(self.lists) - 1) + (f"{numbering[0]}. " if numbering else "- ")
                if numbering:
                    numbering[0] += 1
            elif kind == "tr_open":
                self.cells = []
            elif kind in ("th_open", "td_open"):
                self.line = []
            elif kind in ("th_close", "td_close") and self.cells is not None:
                self.cells.append("".join(self.line).strip())
                self.line = []
            elif kind == "tr_close" and self.cells is not None:
                self.line = [" | ".join(self.cells)]
                self.cells = None
                self.end_line()
            elif kind in ("fence", "code_block"):
                self.end_line()
                self.blocks_text.append(self.prefix + token.content.rstrip("\n"))
                self.prefix = ""
            elif kind == "math_block":
                self.end_line()
                self.blocks_text.append(self.prefix + f"$${token.content.strip()}$$")
                self.prefix = ""

    def inlines(self, tokens: Sequence[Token]) -> None:
        for token in tokens:
            kind = token.type
            if kind in ("text", "code_inline", "html_inline"):
                self.line.append(token.content)
            elif kind == "softbreak":
                self.line.append(" ")
            elif kind == "hardbreak":
                self.end_line()
            elif kind == "math_inline":
                self.line.append(f"${token.content}$")
            elif kind == "math_inline_double":
                self.line.append(f"$${token.content}$$")
            elif kind == "image":
                self.line.append(_children_text(token))
            elif kind == "link_open":
                self.links.append(token)
            elif kind == "link_close" and self.links:
                opening = self.links.pop()
                url = None if _is_autolink(opening) else _shown_url(str(opening.attrs.get("href", "")))
                if url is not None:
                    self.line.append(f" ({url})")
