"""Question content: Markdown, code and math to safe HTML; plain text; pool images.

HTML is checked by parsing it (html.parser) into a small tree and asserting on elements,
attributes and text, never by looking for substrings that could match by accident.
"""

from __future__ import annotations

import hashlib
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.quiz.content import IMAGE_MAX_BYTES, ContentError, PoolImage, check, load_image, plain, render
from server.quiz.content.highlight import SPAN_CLASSES, TOKEN_CLASSES, highlight_css
from server.quiz.content.sanitize import ALLOWED_ATTRIBUTES, ALLOWED_CLASSES, ALLOWED_TAGS

HIGHLIGHT_CSS = Path(__file__).parent.parent / "static" / "highlight.css"
VOID_TAGS = {"br", "hr"}
# Never acceptable in rendered content, whatever the allow-lists say.
FORBIDDEN_TAGS = {"script", "style", "iframe", "img", "a", "object", "embed", "svg", "form", "input", "link", "meta",
                  "base", "frame", "video", "audio", "source", "image", "use", "annotation-xml", "maction"}
FORBIDDEN_ATTRIBUTES = {"href", "src", "srcdoc", "style", "xlink:href", "action", "formaction", "background", "id"}

# A 1x1 transparent PNG, as small as a valid PNG gets.
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000a49444154789c6300010000"
    "0500010d0a2db40000000049454e44ae426082"
)


# --- parsing helpers -------------------------------------------------------------------------------

Node = tuple[str, dict[str, str], list["Node | str"]]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root: Node = ("#root", {}, [])
        self.stack: list[Node] = [self.root]
        self.elements: list[Node] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node: Node = (tag, {name: value or "" for name, value in attrs}, [])
        self.stack[-1][2].append(node)
        self.elements.append(node)
        if tag not in VOID_TAGS:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1][0] == tag, f"</{tag}> closes <{self.stack[-1][0]}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1][2].append(data)


def parse(html: str) -> _TreeBuilder:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder


def tree(html: str) -> list[Node | str]:
    """The fragment as nested (tag, attributes, children) tuples and text strings."""
    return parse(html).root[2]


def find_all(html: str, tag: str) -> list[Node]:
    return [node for node in parse(html).elements if node[0] == tag]


def text_of(node: Node | str) -> str:
    if isinstance(node, str):
        return node
    return "".join(text_of(child) for child in node[2])


def assert_inert(html: str) -> None:
    """Only allow-listed elements, attributes and classes; nothing that runs, loads, links or styles."""
    for tag, attributes, _children in parse(html).elements:
        assert tag not in FORBIDDEN_TAGS, html
        assert tag in ALLOWED_TAGS, (tag, html)
        for name, value in attributes.items():
            assert not name.startswith("on"), (tag, name, html)
            assert name not in FORBIDDEN_ATTRIBUTES, (tag, name, html)
            if name == "class":
                assert set(value.split()) <= ALLOWED_CLASSES.get(tag, frozenset()), (tag, value, html)
            else:
                assert name in ALLOWED_ATTRIBUTES.get(tag, frozenset()), (tag, name, html)
            assert "javascript" not in value.lower(), (tag, name, value)


# --- Markdown --------------------------------------------------------------------------------------


def test_emphasis_strong_strikethrough_and_inline_code() -> None:
    html = render("Is *this* **always** ~~never~~ `x < y`?")
    assert tree(html) == [
        ("p", {}, [
            "Is ", ("em", {}, ["this"]), " ", ("strong", {}, ["always"]), " ", ("s", {}, ["never"]), " ",
            ("code", {}, ["x < y"]), "?",
        ])
    ]


def test_lists_keep_their_order_and_numbering() -> None:
    html = render("- apples\n- pears\n\ntext\n\n3. third\n4. fourth")
    assert tree(html) == [
        ("ul", {}, [("li", {}, ["apples"]), ("li", {}, ["pears"])]),
        ("p", {}, ["text"]),
        ("ol", {"start": "3"}, [("li", {}, ["third"]), ("li", {}, ["fourth"])]),
    ]


def test_headings_start_below_the_pages_own_and_tables_align_by_class() -> None:
    html = render("# Big\n\n#### Small\n\n| a | b |\n|--:|:-:|\n| 1 | 2 |")
    assert [node[0] for node in tree(html) if not isinstance(node, str)] == ["h3", "h6", "table"]
    cells = find_all(html, "td")
    assert [cell[1] for cell in cells] == [{"class": "align-right"}, {"class": "align-center"}]
    assert [text_of(cell) for cell in cells] == ["1", "2"]


def test_code_block_keeps_indentation_and_uses_pygments_classes_without_styles() -> None:
    code = 'def area(r):\n    if r < 0:\n\treturn "<none>"  # tab\n    return 3.14 * r ** 2\n'
    html = render(f"Look:\n\n```python\n{code}```\n")
    (pre,) = find_all(html, "pre")
    assert pre[1] == {"class": "code"}
    (code_element,) = pre[2]
    assert not isinstance(code_element, str)
    assert code_element[0] == "code"
    assert code_element[1] == {"class": "language-python"}
    assert text_of(code_element) == code  # every space, tab and newline as written
    spans = find_all(html, "span")
    assert {span[1]["class"] for span in spans} <= SPAN_CLASSES
    keywords = [text_of(span) for span in spans if span[1]["class"] == "k"]
    assert keywords == ["def", "if", "return", "return"]
    assert [text_of(span) for span in spans if span[1]["class"] == "s"] == ['"<none>"']
    assert all("style" not in element[1] for element in parse(html).elements)


@pytest.mark.parametrize("fence", ["```nosuchlanguage", "```", '```" onmouseover="alert(1)', "```python\" x=\"y"])
def test_code_in_an_unknown_language_is_plain_escaped_text(fence: str) -> None:
    html = render(f"{fence}\n<b>bold?</b>\n```")
    assert_inert(html)
    (pre,) = find_all(html, "pre")
    (code_element,) = pre[2]
    assert code_element == ("code", {}, ["<b>bold?</b>\n"])


def test_links_are_text_with_their_url_and_never_clickable() -> None:
    html = render(
        "See [the notes](https://example.org/week3), <https://example.org/x>, [mail](mailto:a@b.org), "
        "[ftp](ftp://example.org/f) and [rel](page.html)."
    )
    assert find_all(html, "a") == []
    assert text_of(tree(html)[0]) == (
        "See the notes (https://example.org/week3), https://example.org/x, mail (mailto:a@b.org), ftp and rel."
    )


def test_markdown_images_show_only_their_alt_text() -> None:
    html = render("A ![*tiny* cat](cat.png) here.")
    assert tree(html) == [("p", {}, ["A tiny cat here."])]


def test_inline_mode_has_no_paragraph_and_keeps_list_like_labels_as_text() -> None:
    assert tree(render("**Paris** is $x$", inline=True))[0] == ("strong", {}, ["Paris"])
    assert find_all(render("**Paris**", inline=True), "p") == []
    for label in ("- 5", "1. Paris", "# of items", "> 3", "---"):
        html = render(label, inline=True)
        assert tree(html) == [label], label
    assert tree(render("one\n\ntwo", inline=True)) == ["one", ("br", {}, []), "two"]
    (pre,) = find_all(render("```c\nint x;\n```", inline=True), "pre")
    assert pre[1] == {"class": "code"}


# --- math ------------------------------------------------------------------------------------------


def test_inline_fraction_becomes_mathml_with_mfrac() -> None:
    html = render(r"Half is $\frac{a}{b}$.")
    (math,) = find_all(html, "math")
    assert math[1] == {"xmlns": "http://www.w3.org/1998/Math/MathML", "display": "inline"}
    (fraction,) = find_all(html, "mfrac")
    parts = [child for child in fraction[2] if not isinstance(child, str)]
    assert [text_of(part) for part in parts] == ["a", "b"]
    assert find_all(html, "p")[0][2][0] == "Half is "


@pytest.mark.parametrize("source", [r"$$x^2 + y^2$$", "$$\nx^2 + y^2\n$$", r"Inline display $$x^2 + y^2$$ here"])
def test_display_math_is_display_block(source: str) -> None:
    html = render(source)
    (math,) = find_all(html, "math")
    assert math[1]["display"] == "block"
    assert [text_of(power) for power in find_all(html, "msup")] == ["x2", "y2"]


def test_symbols_and_text_in_formulas_are_characters_not_markup() -> None:
    html = render(r"$\alpha \le \mathbb{R} + \text{a <b> & c}$")
    assert_inert(html)
    assert find_all(html, "b") == []
    (text,) = find_all(html, "mtext")
    assert text_of(text) == "a\xa0<b>\xa0&\xa0c"
    assert [text_of(node) for node in find_all(html, "mi")] == ["α", "ℝ"]


def test_dollar_amounts_are_not_math() -> None:
    html = render(r"It costs $5 and $10, or \$3.")
    assert find_all(html, "math") == []
    assert tree(html) == [("p", {}, ["It costs $5 and $10, or $3."])]


def test_bad_latex_is_a_content_error_with_its_line_and_column() -> None:
    source = "Intro line.\n\n- first $x$\n- second $\\frac{a$ end"
    with pytest.raises(ContentError) as caught:
        render(source)
    error = caught.value
    assert (error.line, error.column) == (4, source.splitlines()[3].index("{") + 1)
    assert "never closed" in error.message
    assert error.fix
    assert str(error).startswith("line 4, column 16: this { is never closed (fix: ")


def test_check_reports_every_problem_in_order_without_raising() -> None:
    lines = (
        r"fine $x^2$ and $x^2",  # 1: an unclosed $ is just text
        r"unknown $\foo + 1$",  # 2
        r"> quoted $$\begin{aligned}a\end{aligned}$$",  # 3
        r"percent $50%$",  # 4
        r"ampersand $a & b$",  # 5
        "",
        "$$",
        r"\frac{1}",  # 8: the denominator is missing
        "$$",
    )
    source = "\n".join(lines)
    problems = check(source)
    assert [(problem.line, problem.column) for problem in problems] == [(2, 10), (3, 12), (4, 12), (5, 14), (8, 1)]
    assert "\\foo" in problems[0].message
    assert "aligned" in problems[1].message
    assert "\\%" in problems[2].fix
    assert "\\&" in problems[3].fix
    assert "fraction" in problems[4].message
    assert check("all $x$ fine") == []


def test_a_repeated_formula_is_located_at_its_own_occurrence() -> None:
    problems = check("$x}$ is bad\n\nand $x}$ again")
    assert [(problem.line, problem.column) for problem in problems] == [(1, 3), (3, 7)]


def test_multi_line_display_math_in_a_quote_is_located_on_the_right_line() -> None:
    (problem,) = check("> $$\n> a +\n> \\frac{1\n> $$")
    assert (problem.line, problem.column) == (3, 8)


# --- sanitizing ------------------------------------------------------------------------------------

HOSTILE_SOURCES = [
    "<script>alert(1)</script>",
    "Text <script>alert(1)</script> inline",
    "<img src=x onerror=alert(1)>",
    "Text <img src=x onerror=alert(1)> inline",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<https://x.org/\" onmouseover=\"alert(1)>",
    '[x](https://x.org/" onclick="alert(1))',
    "<div onclick=alert(1)>\n\n*raw html block*\n\n</div>",
    "<iframe src=https://evil.example></iframe>",
    '<a href="https://evil.example">click</a>',
    "<style>body{display:none}</style>",
    "<!-- comment --><svg onload=alert(1)>",
    '```" onmouseover="alert(1)\ncode\n```',
    "```python onmouseover=alert(1)\ncode\n```",
    "![x](javascript:alert(1))",
    '![x" onerror="alert(1)](x.png)',
    r"$\href{javascript:alert(1)}{x}$",
    r"$\style{background:url(javascript:alert(1))}{x}$",
    r"$\class{correct}{x}$",
    r"$\text{<script>alert(1)</script>}$",
    r"$\text{<img src=x onerror=alert(1)>}$",
    r"$\color{red;background:url(x)}{x}$",
    r"$\mathrm{<iframe>}$",
    r"$$\href{javascript:alert(1)}{x}$$",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
]


@pytest.mark.parametrize("source", HOSTILE_SOURCES)
@pytest.mark.parametrize("inline", [False, True])
def test_hostile_sources_render_inert(source: str, inline: bool) -> None:
    try:
        html = render(source, inline=inline)
    except ContentError:
        return  # refusing to render is inert too
    assert_inert(html)


def test_raw_html_is_shown_as_text_for_the_lecturer_to_see() -> None:
    html = render("Text <script>alert(1)</script> and <b>bold</b>")
    assert tree(html) == [("p", {}, ["Text <script>alert(1)</script> and <b>bold</b>"])]


def test_mathml_links_styles_and_classes_are_dropped_but_the_content_stays() -> None:
    for source in (r"$\href{javascript:alert(1)}{x}$", r"$\style{color:red}{x}$", r"$\class{correct}{x}$"):
        html = render(source)
        assert_inert(html)
        (math,) = find_all(html, "math")
        assert text_of(math) == "x"
        assert all(set(element[1]) <= {"xmlns", "display"} for element in parse(html).elements), html


def test_colour_values_cannot_carry_css() -> None:
    html = render(r"$\color{red}{a} + \color{red;background:url(x)}{b}$")
    colours = [element[1].get("mathcolor") for element in find_all(html, "mstyle")]
    assert colours == ["red", None]


FRAGMENTS = [
    "$", "$$", "\\", "{", "}", "^", "_", "&", "%", "\\frac", "\\sqrt", "\\left(", "\\right)", "\\begin{matrix}",
    "\\end{matrix}", "\\text{", "\\href{javascript:alert(1)}", "\\style{", "\\class{", "\\color{", "<script>",
    "</script>", "<img src=x onerror=alert(1)>", "<a href=x>", "[x](", "javascript:alert(1)", ")", "](", "![",
    "```", "```python", '" onmouseover="', "`", "*", "**", "~~", "\n", "\n\n", "- ", "1. ", "> ", "# ", "|", "---",
    "<", ">", '"', "'", "&amp;", "&#x3C;", "\t", "    ", "a", "x", "1",
]
markdownish = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(source=markdownish | st.text(max_size=200), inline=st.booleans())
def test_any_text_renders_inert_or_is_refused_with_a_content_error(source: str, inline: bool) -> None:
    try:
        html = render(source, inline=inline)
    except ContentError as error:
        assert error.line is None or error.line >= 1
        assert error.message and error.fix
    else:
        assert_inert(html)
    assert isinstance(plain(source, inline=inline), str)


def test_the_allow_lists_are_exactly_what_the_renderer_emits() -> None:
    """Every allowed element, attribute and class is used by some content: nothing is allowed just in case."""
    corpus = r"""# h3

## h4

### h5

#### h6

Text with *em*, **strong**, ~~s~~, `code`, a hard\
break and $\frac{a}{b} + \sqrt{x} + \sqrt[3]{y} + x_i + x^2 + x_i^2 + \hat{x} + \underline{x} + \mathrm{\alpha}$.

> quoted

- bullet

3. third

---

| left | centre | right |
|:-----|:------:|------:|
| 1    | 2      | 3     |

```python
def f(x):
    return x
```

$$
\sum_{i=0}^{n} i + \begin{array}{|c|c|}\hline a & b \\ \hline c & d \end{array} + \begin{align*} a &= b \end{align*}
+ \text{text} + \emph{e} + \Bbb{1} + \Bbb{+} + \left( x \right) + \binom{n}{k} + \big( + \Pr{x}
+ \color{red}{x} + \displaystyle x + \boxed{x} + \phantom{x} + \hspace{1em} + \rule{1em}{2em}
+ \xrightarrow{f} + \LaTeX + a \\ b + \colorbox{yellow}{x} + \mathbin{x} + \mathpunct{,} + {\Large L}
$$
"""
    elements = parse(render(corpus)).elements
    assert {tag for tag, _, _ in elements} == ALLOWED_TAGS
    for tag, allowed in ALLOWED_ATTRIBUTES.items():
        used = {name for element_tag, attributes, _ in elements if element_tag == tag for name in attributes}
        assert used - {"class"} == allowed, tag
    classes = {(tag, name) for tag, attributes, _ in elements for name in attributes.get("class", "").split()}
    assert {("pre", "code"), ("code", "language-python"), ("th", "align-left"), ("th", "align-center"),
            ("td", "align-right"), ("span", "k"), ("span", "nf")} <= classes


# --- plain text ------------------------------------------------------------------------------------


def test_plain_strips_markdown_and_keeps_latex() -> None:
    source = (
        "Is **this** `x` a [link](https://e.org) or ![an image](i.png)?\nSecond line $\\frac{a}{b}$.\n\n"
        "- one\n- two\n\n1. first\n\n```python\n  indented()\n```\n\n$$\nx^2\n$$\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    )
    assert plain(source) == (
        "Is this x a link (https://e.org) or an image? Second line $\\frac{a}{b}$.\n"
        "- one\n- two\n1. first\n  indented()\n$$x^2$$\na | b\n1 | 2"
    )


def test_plain_never_raises_and_keeps_short_labels_as_written() -> None:
    assert plain("$\\frac{a$") == "$\\frac{a$"
    assert plain("- 5", inline=True) == "- 5"
    assert plain("**Paris**", inline=True) == "Paris"


# --- stylesheet and speed --------------------------------------------------------------------------


def test_highlight_css_is_the_generated_one_and_styles_every_class() -> None:
    css = HIGHLIGHT_CSS.read_text(encoding="utf-8")
    assert css == highlight_css(), "regenerate static/highlight.css (see server/quiz/content/highlight.py)"
    for css_class in TOKEN_CLASSES.values():
        assert f".code .{css_class}{{" in css
        assert f".page-projector .code .{css_class}{{" in css
    assert "overflow-x:auto" in css.split("pre.code{", 1)[1].split("}", 1)[0]
    assert len(css.encode()) < 4096


def test_a_500_question_pool_renders_well_under_a_second() -> None:
    questions = [
        f"Question {number}: what does `f({number})` return?\n\n```python\ndef f(n):\n    return n * {number}\n```\n\n"
        f"Hint: $\\sum_{{i=1}}^{{{number}}} i = \\frac{{n(n+1)}}{{2}}$"
        for number in range(500)
    ]
    labels = [f"${number}$ apples" for number in range(500 * 4)]
    started = time.perf_counter()
    for text in questions:
        render(text)
    for label in labels:
        render(label, inline=True)
    elapsed = time.perf_counter() - started
    # Typically ~0.3 s. Speed is measured by bench/, not asserted here: this bound only catches a
    # renderer gone pathological (quadratic), with room for a loaded CI machine.
    print(f"\n500 questions and 2,000 labels rendered in {elapsed:.2f} s")
    assert elapsed < 30, elapsed


# --- images ----------------------------------------------------------------------------------------


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_good_png_is_loaded_with_its_url_and_type(tmp_path: Path) -> None:
    write(tmp_path / "img" / "dot.png", PNG_1X1)
    image = load_image(tmp_path, "img/dot.png", "  A single transparent pixel ")
    digest = hashlib.sha256(PNG_1X1).hexdigest()
    assert image == PoolImage(sha256=digest, content_type="image/png", size=67, data=PNG_1X1,
                              alt="A single transparent pixel", relative="img/dot.png")
    assert image.url == f"/media/{digest[:16]}.png"


@pytest.mark.parametrize(
    ("magic", "content_type", "extension"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg", "jpg"),
        (b"GIF89a\x01\x00\x01\x00", "image/gif", "gif"),
        (b"GIF87a\x01\x00\x01\x00", "image/gif", "gif"),
        (b"RIFF\x1a\x00\x00\x00WEBPVP8L", "image/webp", "webp"),
    ],
)
def test_the_type_comes_from_the_bytes_not_the_name(
    tmp_path: Path, magic: bytes, content_type: str, extension: str
) -> None:
    write(tmp_path / "picture.png", magic + b"\x00" * 32)
    image = load_image(tmp_path, "picture.png", "alt")
    assert image.content_type == content_type
    assert image.url.endswith(f".{extension}")


@pytest.mark.parametrize("alt", [None, "", "   "])
def test_an_image_without_alt_text_is_refused(tmp_path: Path, alt: str | None) -> None:
    write(tmp_path / "dot.png", PNG_1X1)
    with pytest.raises(ContentError) as caught:
        load_image(tmp_path, "dot.png", alt)
    assert "image_alt" in caught.value.fix
    assert caught.value.line is None


def test_paths_leaving_the_pool_folder_are_refused(tmp_path: Path) -> None:
    pool_dir = tmp_path / "pool"
    outside = write(tmp_path / "secret.png", PNG_1X1)
    write(pool_dir / "inside.png", PNG_1X1)
    (pool_dir / "link.png").symlink_to(outside)
    (pool_dir / "dirlink").symlink_to(tmp_path)
    for relative in ("../secret.png", "sub/../../secret.png", str(outside), "link.png", "dirlink/secret.png"):
        with pytest.raises(ContentError) as caught:
            load_image(pool_dir, relative, "alt")
        assert "outside" in caught.value.message or "absolute" in caught.value.message, relative
    assert load_image(pool_dir, "./sub/../inside.png", "alt").size == 67


def test_missing_oversized_and_non_image_files_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "big.png", PNG_1X1 + b"\x00" * (IMAGE_MAX_BYTES + 1 - len(PNG_1X1)))
    write(tmp_path / "limit.png", PNG_1X1 + b"\x00" * (IMAGE_MAX_BYTES - len(PNG_1X1)))
    write(tmp_path / "notes.png", b"these are not pixels\n")
    write(tmp_path / "page.png", b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>")
    (tmp_path / "folder.png").mkdir()
    cases = {
        "missing.png": "not found",
        "folder.png": "not found",
        "": "empty",
        "big.png": "larger than 2 MiB",
        "notes.png": "not a PNG",
        "page.png": "not a PNG",
    }
    for relative, expected in cases.items():
        with pytest.raises(ContentError) as caught:
            load_image(tmp_path, relative, "alt")
        assert expected in caught.value.message, relative
        assert caught.value.fix, relative
    assert load_image(tmp_path, "limit.png", "alt").size == IMAGE_MAX_BYTES
