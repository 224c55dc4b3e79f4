"""LaTeX formulas to MathML, server-side, with the problems located inside the formula.

latex2mathml is lenient: it turns `\\frac{a` into a fraction with one part and an unknown
`\\foo` into the visible text "\\foo". A lecturer would rather hear about those before the
lecture, so `to_mathml` checks braces first and the produced tree afterwards, and raises
`FormulaError` with the offset of the problem inside the formula.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element, tostring

from latex2mathml import commands, converter
from latex2mathml import exceptions as latex_errors

# Every MathML element latex2mathml emits, with the attributes it puts on it (surveyed over
# all of its commands and environments). Not here on purpose: `href` (\href), `style`
# (\style), `class` (\class) and `border-color` (\fcolorbox): links, CSS and page classes
# have no place in a formula.
MATH_ATTRIBUTES: dict[str, frozenset[str]] = {
    "math": frozenset({"xmlns", "display"}),
    "mrow": frozenset(),
    "mi": frozenset({"mathvariant"}),
    "mn": frozenset({"mathvariant"}),
    "mtext": frozenset({"mathvariant"}),
    "mo": frozenset(
        {
            "stretchy",
            "fence",
            "separator",
            "form",
            "lspace",
            "rspace",
            "minsize",
            "maxsize",
            "movablelimits",
            "accent",
            "mathvariant",
        }
    ),
    "mspace": frozenset({"width", "height", "depth", "linebreak", "mathbackground"}),
    "mfrac": frozenset({"linethickness"}),
    "msqrt": frozenset(),
    "mroot": frozenset(),
    "msub": frozenset(),
    "msup": frozenset(),
    "msubsup": frozenset(),
    "mover": frozenset({"accent"}),
    "munder": frozenset(),
    "munderover": frozenset(),
    "mtable": frozenset({"displaystyle", "rowspacing", "columnspacing", "columnlines", "rowlines"}),
    "mtr": frozenset(),
    "mtd": frozenset({"columnalign"}),
    "mstyle": frozenset({"mathsize", "displaystyle", "scriptlevel", "mathcolor"}),
    "mpadded": frozenset({"width", "height", "depth", "lspace", "voffset", "mathbackground"}),
    "mphantom": frozenset(),
    "menclose": frozenset({"notation"}),
}
MATHML_NAMESPACE = "http://www.w3.org/1998/Math/MathML"

# Attribute values are keywords, lengths and colours: no quotes, colons, parentheses or
# semicolons, so nothing that reads as a URL or CSS beyond a plain value.
_SAFE_VALUE_RE = re.compile(r"[A-Za-z0-9 .#%+-]*")
# latex2mathml stores symbols as "&#x...;" text and unescapes its whole output afterwards,
# which would also unescape a `<` typed inside \text{}; decoding only these references
# and serializing the tree ourselves keeps every other character escaped.
_CHAR_REFERENCE_RE = re.compile(r"&#x([0-9A-Fa-f]{1,6});")
_COMMAND_RE = re.compile(r"\\[A-Za-z]*")
_BEGIN_RE = re.compile(r"\\begin\s*\{([^{}]*)\}")
# latex2mathml reads an unknown environment as a plain group, silently losing its layout.
ENVIRONMENTS = frozenset(
    name.removeprefix("\\")
    for name in (
        *commands.MATRICES,
        commands.CASES,
        commands.SMALLMATRIX,
        commands.SPLIT,
        commands.ALIGN,
        commands.ALIGNSTAR,
    )
)

# Children a well-formed element has; fewer means latex2mathml dropped a missing part.
_PARTS = {
    "mfrac": (2, "a fraction is missing its numerator or denominator", r"write \frac{numerator}{denominator}"),
    "msub": (2, "a subscript is missing a part", "write x_{i}"),
    "msup": (2, "a superscript is missing a part", "write x^{2}"),
    "msubsup": (3, "a sub- and superscript is missing a part", "write x_{i}^{2}"),
    "mroot": (2, "a root is missing a part", r"write \sqrt[n]{x}"),
    "mover": (2, "an accent or upper limit is missing a part", r"write \hat{x} or \overset{a}{b}"),
    "munder": (2, "a lower limit is missing a part", r"write \underset{a}{b}"),
    "munderover": (3, r"\limits is not after an operator", r"write \sum\limits_{i=1}^{n}"),
}

_LIBRARY_ERRORS: dict[type[Exception], tuple[str, str]] = {
    latex_errors.NumeratorNotFoundError: ("a fraction has no numerator", r"write \frac{numerator}{denominator}"),
    latex_errors.DenominatorNotFoundError: ("a fraction has no denominator", r"write \frac{numerator}{denominator}"),
    latex_errors.ExtraLeftOrMissingRightError: (
        r"a \left has no matching \right, or the other way round",
        r"pair every \left( with a \right); use \right. for an invisible one",
    ),
    latex_errors.MissingSuperScriptOrSubscriptError: ("^ or _ has nothing after it", "write x^{2} or x_{i}"),
    latex_errors.DoubleSubscriptsError: ("two subscripts in a row", "group them: x_{ab} or x_{a_b}"),
    latex_errors.DoubleSuperscriptsError: ("two superscripts in a row", "group them: x^{ab} or x^{a^b}"),
    latex_errors.NoAvailableTokensError: (
        "a command or brace group is missing its argument",
        r"give every command its argument in braces, e.g. \sqrt{x}, \hat{a}, \mathbb{R}",
    ),
    latex_errors.InvalidStyleForGenfracError: (
        r"\genfrac has an invalid style",
        "use 0, 1, 2 or 3 as its 4th argument",
    ),
    latex_errors.MissingEndError: (r"a \begin{...} has no matching \end{...}", r"close it with \end{...}"),
    latex_errors.InvalidAlignmentError: ("invalid column alignment", r"use l, c or r, e.g. \begin{array}{lcr}"),
    latex_errors.InvalidWidthError: ("invalid width", r"use a length with a unit, e.g. \hspace{1em}"),
    latex_errors.LimitsMustFollowMathOperatorError: (
        r"\limits is not after an operator",
        r"write \sum\limits_{i=1}^{n}",
    ),
    RecursionError: ("the formula is nested too deeply", "split it into simpler formulas"),
}


class FormulaError(Exception):
    """A formula that cannot be rendered; `offset` is where, as an index into the formula.

    Raised without an offset when the problem is not tied to one place; `to_mathml` then
    points at the formula's first character.
    """

    def __init__(self, message: str, fix: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.offset = offset


def to_mathml(latex: str, *, display: bool) -> str:
    """Convert one LaTeX formula to a MathML `<math>` element, or raise FormulaError.

    `display=True` gives `display="block"` (a formula on its own line). The result carries
    only the elements and attributes in MATH_ATTRIBUTES, with plain attribute values.
    """
    try:
        _check_source(latex)
        root = _convert(latex, display=display)
        for element in root.iter():
            _clean_element(element, latex)
    except FormulaError as error:
        if error.offset is None:
            error.offset = len(latex) - len(latex.lstrip())
        raise
    return tostring(root, encoding="unicode", short_empty_elements=False)


def _convert(latex: str, *, display: bool) -> Element:
    try:
        root = converter.convert_to_element(latex, display="block" if display else "inline")
    except Exception as error:  # the library raises its own classes and, on some input, plain ones
        message, fix = _LIBRARY_ERRORS.get(
            type(error), (f"cannot read this formula ({type(error).__name__})", "check it in a LaTeX editor")
        )
        raise FormulaError(message, fix) from error
    root.set("xmlns", MATHML_NAMESPACE)
    return root


def _check_source(latex: str) -> None:
    for begin in _BEGIN_RE.finditer(latex):
        if begin.group(1).strip() not in ENVIRONMENTS:
            raise FormulaError(
                f"environment {begin.group(1)!r} is not supported",
                "use align* (for aligned), align, cases, array, matrix, pmatrix, bmatrix or vmatrix",
                begin.start(),
            )
    open_braces: list[int] = []
    index = 0
    while index < len(latex):
        char = latex[index]
        if char == "\\":
            # A command name is a run of letters; any other escaped character is one character.
            index += 1
            if index < len(latex) and latex[index].isascii() and latex[index].isalpha():
                while index < len(latex) and latex[index].isascii() and latex[index].isalpha():
                    index += 1
            else:
                index += 1
            continue
        if char == "{":
            open_braces.append(index)
        elif char == "}":
            if not open_braces:
                raise FormulaError("this } closes nothing", r"remove it, or write \} for a literal brace", index)
            open_braces.pop()
        elif char == "%":
            raise FormulaError("% starts a LaTeX comment", r"write \% for a percent sign", index)
        index += 1
    if open_braces:
        raise FormulaError(
            "this { is never closed", r"add the missing }, or write \{ for a literal brace", open_braces[-1]
        )


def _clean_element(element: Element, latex: str) -> None:
    tag = element.tag
    allowed = MATH_ATTRIBUTES.get(tag, frozenset())
    for name in list(element.attrib):
        if name not in allowed or (name != "xmlns" and not _SAFE_VALUE_RE.fullmatch(element.attrib[name])):
            del element.attrib[name]
    if element.text == "&":  # an escaped \\& arrives as a character reference, so this one was bare
        raise FormulaError(
            "& outside a matrix, array or align environment", r"write \& for an ampersand", max(latex.find("&"), 0)
        )
    if element.text:
        element.text = _decode(element.text)
        if tag in ("mi", "mo", "mtext") and element.text.startswith("\\"):
            command = _COMMAND_RE.match(element.text)
            name = command.group(0) if command else "\\"
            if name == "\\":
                raise FormulaError("a lone backslash", r"write \backslash for a backslash", max(latex.find("\\"), 0))
            raise FormulaError(
                f"unknown LaTeX command {name}", "check its spelling, or write it out as text", max(latex.find(name), 0)
            )
    if element.tail:
        element.tail = _decode(element.tail)
    parts = _PARTS.get(tag)
    if parts is not None and len(element) < parts[0]:
        raise FormulaError(parts[1], parts[2])


def _decode(text: str) -> str:
    return _CHAR_REFERENCE_RE.sub(lambda match: chr(int(match.group(1), 16)), text)
