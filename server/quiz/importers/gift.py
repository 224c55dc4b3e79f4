"""GIFT question banks, as Moodle's GIFT format documentation and importer define them.

Questions are separated by blank lines; a question is text followed by an answer block
in braces.  Supported: ``//`` comment lines, ``::title::`` (dropped: pool questions have
no titles), ``$CATEGORY: path`` (a tag on the following questions), ``[markdown]``,
``[html]``, ``[plain]`` and ``[moodle]`` text formats, the escapes ``\\~ \\= \\# \\{ \\}
\\: \\\\ \\n``, per-answer ``#feedback`` (dropped) and ``####general feedback`` (the
explanation).

Mapped: ``{=right ~wrong}`` single; ``{~%50%a ~%50%b ~%-100%c}`` multiple (right =
positive weight); ``{T}``/``{F}``/``{TRUE}``/``{FALSE}`` true_false; ``{#3.14:0.01}``,
``{#1..5}`` and ``{#=1822:0 =%50%1822:2}`` numeric (the full-credit answer);
``{=merge sort =mergesort}`` text (the full-credit answers).  Skipped with a warning
naming the line (errors under ``strict``): matching (``->``), essay (``{}``), missing
word (text after the answer block) and description (no answer block).  An answer block
followed only by closing punctuation (``... from {=Nazareth}.``) is not a missing word:
Moodle shows it as a blank at the end of the sentence, and so does the import.

`export_gift` writes a pool back as GIFT that this parser (and Moodle) reads.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from . import (
    OPTION_KEYS,
    OPTIONS_MIN,
    ParsedBank,
    Problems,
    Question,
    collapse_spaces,
    decode_text,
    format_number,
    markdown_with_math,
    ordered,
    parse_number,
    plain_to_markdown,
    too_many_options_fix,
    vet_question,
)
from .moodle_xml import HTML_MAX_CHARS, html_to_markdown, html_to_text

__all__ = ["export_gift", "parse_gift"]

TEXT_FORMATS = ("moodle", "html", "plain", "markdown")
BLANK = "\\_\\_\\_\\_\\_"  # Moodle's "_____" for a missing word, escaped for Markdown

# Escaped specials are swapped for Unicode noncharacters (never valid in interchange)
# plus a filler, so that a 2-character escape stays 2 characters: offsets into the
# hidden text still map to the instructor's line and column.
_HIDDEN = {char: chr(0xFDD0 + index) for index, char in enumerate("\\~=#{}:\n")}
_FILLER = chr(0xFDDF)
_UNHIDE = str.maketrans({**{hidden: char for char, hidden in _HIDDEN.items()}, _FILLER: None})
_ESCAPE_RE = re.compile(r"\\([\\~=#{}:n])")
_NONCHARACTER_RE = re.compile("[\ufdd0-\ufdef]")
_MARKER_RE = re.compile("[~=]")
_EQUALS_RE = re.compile("=")


def _hide_escapes(text: str) -> str:
    text = _NONCHARACTER_RE.sub("\ufffd", text)
    return _ESCAPE_RE.sub(lambda match: _HIDDEN["\n" if match[1] == "n" else match[1]] + _FILLER, text)


def _unhide(text: str) -> str:
    return text.translate(_UNHIDE)


@dataclass(slots=True)
class _Block:
    """Consecutive non-blank lines: one question (or a $CATEGORY line)."""

    first_line: int
    text: str  # the lines joined by "\n", comment lines emptied, escapes hidden
    starts: list[int]  # offset in `text` where each line starts

    def line_at(self, offset: int) -> int:
        return self.first_line + bisect_right(self.starts, offset) - 1

    def column_at(self, offset: int) -> int:
        return offset - self.starts[bisect_right(self.starts, offset) - 1] + 1


def _blocks(text: str) -> Iterator[_Block]:
    current: list[str] = []
    first = 0
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            if current:
                yield _make_block(first, current)
                current = []
            continue
        if not current:
            first = number
        # A comment line is emptied but kept, so that it neither ends the question
        # (as in Moodle) nor shifts the line numbers.
        current.append("" if line.lstrip().startswith("//") else line)
    if current:
        yield _make_block(first, current)


def _make_block(first: int, lines: list[str]) -> _Block:
    starts: list[int] = []
    offset = 0
    for line in lines:
        starts.append(offset)
        offset += len(line) + 1
    return _Block(first, "\n".join(lines), starts)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _split_format(raw: str, default: str) -> tuple[str, str]:
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
class _Part:
    """One answer of an answer block: its marker, weight, text (escapes hidden), offset."""

    marker: str
    weight: float | None
    text: str
    offset: int


def _parts(answers: str, base: int, markers: re.Pattern[str], *, weight_after_equals: bool = True) -> list[_Part]:
    """Split an answer block at its markers; a blank piece before the first marker is dropped.

    In a choice question Moodle reads no weight after ``=`` (it is 100% by definition),
    so ``=%50%x`` there is the text "%50%x"; short and numeric answers do read one.
    """
    parts: list[_Part] = []
    marker, start = "", 0
    for match in markers.finditer(answers):
        parts.append(_Part(marker, None, answers[start : match.start()], base + start))
        marker, start = match.group(), match.end()
    parts.append(_Part(marker, None, answers[start:], base + start))
    if parts and not parts[0].marker and not parts[0].text.strip():
        parts.pop(0)
    for part in parts:
        if part.marker != "=" or weight_after_equals:
            part.weight, part.text = _weight(part.text)
    return parts


def _without_feedback(text: str) -> str:
    return text.split("#", 1)[0]


@dataclass(slots=True)
class _Answers:
    """The answer block of one question, located in its block."""

    block: _Block
    text: str  # between the braces, general feedback removed
    base: int  # offset of `text` in the block
    fmt: str  # the question text's format, the default for answers


class _GiftReader:
    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self.questions: list[Question] = []
        self.tags: list[str] = []

    # -------------------------------------------------- blocks

    def read(self, block: _Block) -> None:
        """Parse one blank-line-separated block."""
        text = block.text
        pos = _skip_space(text, 0)
        if pos >= len(text):
            return  # comments only
        if text.startswith("$CATEGORY:", pos):
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            path = collapse_spaces(_unhide(text[pos + len("$CATEGORY:") : end]))
            self.tags = [path] if path else []
            pos = _skip_space(text, end)
            if pos >= len(text):
                return
        if text.startswith("::", pos):
            # A title: quizctl questions have none.  Without a closing "::" Moodle
            # keeps the rest as question text.
            end = text.find("::", pos + 2)
            pos = _skip_space(text, end + 2 if end >= 0 else pos + 2)
        self._question(block, pos)

    def _question(self, block: _Block, pos: int) -> None:
        text = block.text
        line = block.line_at(pos)
        opening = text.find("{", pos)
        first_close = text.find("}", pos)
        if opening < 0 and first_close < 0:
            self.problems.skip(
                line, "a description (text with no answer block)", "add an answer block, or leave it out"
            )
            return
        if first_close >= 0 and (opening < 0 or first_close < opening):
            self._brace_error(block, first_close, "a } with no { before it", "escape a literal brace as \\}")
            return
        closing = text.find("}", opening + 1)
        if closing < 0:
            self._brace_error(
                block,
                opening,
                "the answer block opened here is not closed before the blank line",
                "close it with }, remove blank lines inside it, or escape a literal brace as \\{",
            )
            return
        nested = text.find("{", opening + 1, closing)
        if nested >= 0:
            self._brace_error(
                block, nested, "a { inside an answer block", "escape braces in answers (e.g. LaTeX) as \\{ \\}"
            )
            return
        tail = _unhide(text[closing + 1 :]).strip()
        # Text after the block makes a missing-word question, unless it is only the
        # sentence's closing punctuation ("... was from {=Nazareth}.").
        if "{" in text[closing:] or len(tail) > 3 or any(char.isalnum() for char in tail):
            self.problems.skip(
                line,
                "a missing-word question (text after the answer block)",
                "move the answer block to the end of the question text",
            )
            return
        stray = text.find("}", closing + 1)
        if stray >= 0:
            self._brace_error(block, stray, "a second } after the answer block", "escape a literal brace as \\}")
            return
        self._build(block, pos, opening, closing, tail, line)

    def _brace_error(self, block: _Block, offset: int, message: str, fix: str) -> None:
        self.problems.error(block.line_at(offset), message, fix, block.column_at(offset))

    # -------------------------------------------------- questions

    def _build(self, block: _Block, pos: int, opening: int, closing: int, tail: str, line: int) -> None:
        inside = block.text[opening + 1 : closing]
        general = inside.rfind("####")
        explanation_raw = inside[general + 4 :] if general >= 0 else ""
        inside = inside[:general] if general >= 0 else inside
        fmt, head = _split_format(_unhide(block.text[pos:opening]), "moodle")
        text = self._markdown(head, fmt, line)
        if tail:
            text = f"{text} {BLANK}{plain_to_markdown(tail)}"
        question: Question = {"text": text}
        if self._typed(question, _Answers(block, inside, opening + 1, fmt), line) is None:
            return
        explanation_fmt, explanation = _split_format(_unhide(explanation_raw), fmt)
        if explanation.strip():
            question["explanation"] = self._markdown(explanation, explanation_fmt, line)
        if self.tags:
            question["tags"] = list(self.tags)
        if vet_question(question, line, self.problems):
            self.questions.append(ordered(question))

    def _typed(self, question: Question, answers: _Answers, line: int) -> Question | None:
        # The order of these tests is Moodle's: it decides e.g. that {#...} is numeric
        # even when it contains "~".
        body = answers.text.strip()
        if not body:
            self.problems.skip(
                line, "an essay question (empty answer block)", "use an open poll instead, or leave it out"
            )
            return None
        if body.startswith("#"):
            return self._numeric(question, answers, line)
        if "~" in body:
            return self._choice(question, answers, line)
        if "=" in body and "->" in body:
            self.problems.skip(line, "a matching question (->)", "rewrite it as several single-choice questions")
            return None
        truth = _without_feedback(_unhide(body)).strip().upper()
        if truth in ("T", "TRUE", "F", "FALSE"):
            question["type"] = "true_false"
            question["correct"] = truth.startswith("T")
            return question
        return self._short_answer(question, answers, line)

    def _choice(self, question: Question, answers: _Answers, line: int) -> Question | None:
        block = answers.block
        parts = _parts(answers.text, answers.base, _MARKER_RE, weight_after_equals=False)
        if len(parts) > len(OPTION_KEYS):
            extra = parts[len(OPTION_KEYS)]
            self.problems.error(
                block.line_at(extra.offset),
                f"{len(parts)} options; quizctl shows at most {len(OPTION_KEYS)} (A-F)",
                too_many_options_fix(len(parts)),
            )
            return None
        if len(parts) < OPTIONS_MIN:
            self.problems.error(line, f"{len(parts)} option(s); a choice question needs at least 2", "add options")
            return None
        options: dict[str, str] = {}
        for key, part in zip(OPTION_KEYS, parts, strict=False):
            fmt, raw = _split_format(_unhide(_without_feedback(part.text)), answers.fmt)
            option = self._markdown(raw, fmt, block.line_at(part.offset))
            if not option:
                self.problems.error(block.line_at(part.offset), f"option {key} is empty", "write its text or remove it")
                return None
            options[key] = option
        question["options"] = options
        if "=" in answers.text:
            return self._single(question, parts, line)
        correct = [key for key, part in zip(OPTION_KEYS, parts, strict=False) if (part.weight or 0) > 0]
        if not correct:
            self.problems.error(
                line,
                "no option is marked right",
                "mark the right option with =, or give the right options positive weights like ~%50%",
            )
            return None
        question["type"] = "multiple"
        question["correct"] = correct
        return question

    def _single(self, question: Question, parts: list[_Part], line: int) -> Question | None:
        right = [
            key
            for key, part in zip(OPTION_KEYS, parts, strict=False)
            if part.marker == "=" or (part.weight or 0) >= 100
        ]
        if len(right) != 1:
            self.problems.error(
                line,
                f"{len(right)} options are marked right (=); a single-choice question has one",
                "mark the others with ~, or use weights like ~%50% for a multiple-answer question",
            )
            return None
        question["type"] = "single"
        question["correct"] = right[0]
        self._partial_credit(line, sum(1 for part in parts if 0 < (part.weight or 0) < 100))
        return question

    def _numeric(self, question: Question, answers: _Answers, line: int) -> Question | None:
        block = answers.block
        body = answers.text
        start = body.index("#") + 1
        # "~" starts Moodle's feedback for any other (wrong) answer.
        wrong = body.find("~", start)
        parts = _parts(body[start : wrong if wrong >= 0 else len(body)], answers.base + start, _EQUALS_RE)
        chosen: Question | None = None
        partial = extra = 0
        for part in parts:
            value_text = _unhide(_without_feedback(part.text)).strip()
            if value_text == "*":
                continue
            value = self._numeric_value(value_text, block.line_at(part.offset))
            if value is None:
                return None
            weight = 100.0 if part.weight is None else part.weight
            if weight >= 100 and chosen is None:
                chosen = value
            elif weight >= 100:
                extra += 1
            elif weight > 0:
                partial += 1
        if chosen is None:
            self.problems.error(
                line, "no numeric answer has full credit", "write the answer as {#3.14} or {#=3.14:0.01}"
            )
            return None
        question["type"] = "numeric"
        question.update(chosen)
        self._partial_credit(line, partial)
        if extra:
            self.problems.warn(
                line,
                f"{extra} more full-credit answer(s) dropped: a numeric question has one answer",
                "merge them into one answer with a tolerance or a range",
            )
        return question

    def _numeric_value(self, text: str, line: int) -> Question | None:
        fix = "write numbers like {#42}, {#3.14:0.01} (tolerance) or {#1..5} (range)"
        if text.find("..") > 0:
            low_text, high_text = text.split("..", 1)
            low, high = parse_number(low_text), parse_number(high_text)
            if low is None or high is None:
                self.problems.error(line, f"{text[:40]!r} is not a range of numbers", fix)
                return None
            if low > high:
                self.problems.error(line, f"range {text[:40]!r} runs backwards", "write the low end first, as {#1..5}")
                return None
            return {"range": [low, high]}
        value_text, _, tolerance_text = text.partition(":") if text.find(":") > 0 else (text, "", "")
        value = parse_number(value_text)
        tolerance = parse_number(tolerance_text) if tolerance_text.strip() else 0
        if value is None or tolerance is None or tolerance < 0:
            self.problems.error(line, f"{text[:40]!r} is not a number with an optional tolerance", fix)
            return None
        return {"correct": value, "tolerance": tolerance} if tolerance else {"correct": value}

    def _short_answer(self, question: Question, answers: _Answers, line: int) -> Question | None:
        block = answers.block
        accept: list[str] = []
        partial = 0
        for part in _parts(answers.text, answers.base, _EQUALS_RE):
            fmt, raw = _split_format(_unhide(_without_feedback(part.text)), answers.fmt)
            answer = html_to_text(raw) if fmt == "html" else collapse_spaces(raw)
            if not answer:
                self.problems.error(block.line_at(part.offset), "an empty accepted answer", "write it or remove the =")
                return None
            weight = 100.0 if part.weight is None else part.weight
            if weight < 100:
                partial += weight > 0
                continue
            if answer not in accept:
                accept.append(answer)
        if not accept:
            self.problems.error(line, "no answer has full credit", "write the accepted answers as {=answer =other}")
            return None
        question["type"] = "text"
        question["accept"] = accept
        self._partial_credit(line, partial)
        return question

    def _partial_credit(self, line: int, count: int) -> None:
        if count:
            self.problems.warn(
                line,
                f"{count} answer(s) with partial credit: quizctl scores only fully right answers",
                "give those answers full or no credit if that matters",
            )

    def _markdown(self, raw: str, fmt: str, line: int) -> str:
        if fmt == "markdown":
            return markdown_with_math(raw)
        if fmt != "html":
            return plain_to_markdown(raw)  # moodle and plain
        if len(raw) > HTML_MAX_CHARS:
            self.problems.error(line, f"{len(raw)} characters of HTML in one text", "shorten the text")
            return ""
        markdown, images = html_to_markdown(raw)
        for image in images:
            self.problems.warn(
                line,
                f"image {image.src[:80]} dropped: GIFT files carry no images",
                "export the bank as Moodle XML to keep its images",
            )
        return markdown


def parse_gift(data: str | bytes, source: str, *, strict: bool = False) -> ParsedBank:
    """Parse a GIFT bank; `BankError` lists every problem with its line (and column)."""
    problems = Problems(source, strict=strict)
    reader = _GiftReader(problems)
    for block in _blocks(_hide_escapes(decode_text(data, source))):
        reader.read(block)
    return problems.finish(reader.questions)


# ================================================================ export


def export_gift(pool: dict[str, Any]) -> str:
    """A pool dict as a GIFT bank that `parse_gift` and Moodle read back.

    Question text is written as ``[markdown]`` with GIFT's specials escaped; the
    explanation becomes ``####`` general feedback; the first tag a ``$CATEGORY``.
    GIFT has no place for images, time limits, points, numeric units or exact
    matching, so those are left out, and polls (GIFT has none) become a comment.
    """
    title = _one_line(str(pool.get("title", "")))
    lines = [f"// {title}", "// Exported by quizctl as GIFT (Moodle: Question bank > Import > GIFT format).", ""]
    category: str | None = None
    for number, question in enumerate(pool.get("questions", []), 1):
        tags = question.get("tags") or []
        tag = _one_line(str(tags[0])) if tags else None
        if tag != category:
            lines += [f"$CATEGORY: {tag or ''}", ""]
            category = tag
        lines += [_export_question(question, number), ""]
    return "\n".join(lines)


def _export_question(question: dict[str, Any], number: int) -> str:
    qtype = question.get("type", "single")
    explanation = question.get("explanation")
    feedback = f"####{_guard_format(explanation)}" if explanation else ""
    head = f"[markdown]{_escape(question.get('text', ''))}"
    if qtype in ("single", "multiple"):
        return f"{head}{{\n{_export_options(question)}{_indented(feedback)}}}"
    if qtype == "true_false":
        return f"{head}{{{'TRUE' if question.get('correct') else 'FALSE'}{feedback}}}"
    if qtype == "numeric":
        return f"{head}{{#{_export_number(question)}{feedback}}}"
    if qtype == "text":
        accepted = "".join(f"\t={_guard_weight(_escape(answer), '%100%')}\n" for answer in question.get("accept", []))
        return f"{head}{{\n{accepted}{_indented(feedback)}}}"
    return f"// question {number} is a {qtype}; GIFT has no such question type, so it is left out"


def _export_options(question: dict[str, Any]) -> str:
    options = question.get("options", {})
    correct = question.get("correct")
    lines: list[str] = []
    if question.get("type", "single") == "single":
        for key, option in options.items():
            text = _option_text(option)
            lines.append(f"\t={text}" if key == correct else f"\t~{_guard_weight(text, '%0%')}")
    else:
        right = list(correct or [])
        share = format_number(round(100 / max(1, len(right)), 5))
        for key, option in options.items():
            weight = f"%{share}%" if key in right else "%-100%"
            lines.append(f"\t~{weight}{_option_text(option)}")
    return "".join(line + "\n" for line in lines)


def _option_text(option: Any) -> str:
    return _guard_format(option.get("text", "") if isinstance(option, dict) else str(option))


def _guard_format(text: str) -> str:
    """Escaped text; text that itself starts like "[html]" is marked [markdown] first."""
    escaped = _escape(text)
    return f"[markdown]{escaped}" if _split_format(text, "")[0] else escaped


def _guard_weight(text: str, weight: str) -> str:
    # "~%50%x" would be read as a weight: an explicit weight first keeps the text.
    return weight + text if text.startswith("%") else text


def _export_number(question: dict[str, Any]) -> str:
    if "range" in question:
        low, high = question["range"]
        return f"{format_number(low)}..{format_number(high)}"
    tolerance = question.get("tolerance") or 0
    value = format_number(question.get("correct", 0))
    return f"{value}:{format_number(tolerance)}" if tolerance else value


def _indented(feedback: str) -> str:
    return f"\t{feedback}\n" if feedback else ""


_GIFT_SPECIALS = str.maketrans({"\\": "\\\\", "~": "\\~", "=": "\\=", "#": "\\#", "{": "\\{", "}": "\\}", ":": "\\:"})


def _escape(text: str) -> str:
    """Text with GIFT's specials escaped and newlines as ``\\n``: always one physical line."""
    return text.strip().translate(_GIFT_SPECIALS).replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")


def _one_line(text: str) -> str:
    return collapse_spaces(text.replace("\r", " ").replace("\n", " "))
