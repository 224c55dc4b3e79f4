"""Reading a Moodle XML file safely, with the line each ``<question>`` starts on.

The file is parsed with expat directly (feeding an ElementTree `TreeBuilder`) so that
each question keeps its line number. A DOCTYPE or ENTITY declaration is refused outright,
which rules out entity-expansion ("billion laughs") and external entity attacks without
needing defusedxml; Moodle never writes either. Nesting deeper than `XML_MAX_DEPTH` is
refused too.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat

from .problems import Problems

# Moodle XML nests about six levels deep; anything far deeper is hostile.
XML_MAX_DEPTH = 64


class _Refused(Exception):
    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


@dataclass(slots=True)
class Document:
    """The parsed file: its root element, and the line each top-level <question> starts on."""

    root: ET.Element
    question_lines: list[int]


def parse_document(data: str | bytes, problems: Problems) -> Document:
    """Parse a Moodle XML file; a file that cannot be read raises `BankError` with its line."""
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
    return Document(root, question_lines)
