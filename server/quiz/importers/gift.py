"""GIFT question banks, as Moodle's GIFT format documentation and importer define them.

Questions are separated by blank lines; a question is text followed by an answer block
in braces. Supported: ``//`` comment lines, ``::title::`` (dropped: pool questions have
no titles), ``$CATEGORY: path`` (a tag on the following questions), ``[markdown]``,
``[html]``, ``[plain]`` and ``[moodle]`` text formats, the escapes ``\\~ \\= \\# \\{ \\}
\\: \\\\ \\n``, per-answer ``#feedback`` (dropped) and ``####general feedback`` (the
explanation). quizctl's own comments (``// quizctl: {...}``, gift_meta.py) give back
what GIFT cannot say: time limits, points, images, units, exact matching, tags, polls.

Mapped: ``{=right ~wrong}`` single; ``{~%50%a ~%50%b ~%-100%c}`` multiple (right =
positive weight); ``{T}``/``{F}``/``{TRUE}``/``{FALSE}`` true_false; ``{#3.14:0.01}``,
``{#1..5}`` and ``{#=1822:0 =%50%1822:2}`` numeric (the full-credit answer);
``{=merge sort =mergesort}`` text (the full-credit answers). Skipped with a warning
naming the line (errors under ``strict``): matching (``->``), essay (``{}``), missing
word (text after the answer block) and description (no answer block). An answer block
followed only by closing punctuation (``... from {=Nazareth}.``) is not a missing word:
Moodle shows it as a blank at the end of the sentence, and so does the import.

gift_export.py writes pools back as GIFT that this parser (and Moodle) reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.quiz.types.choice import OPTION_KEYS, OPTIONS_MIN

from .gift_meta import POOL_PREFIX, apply_comment, read_comment
from .gift_syntax import (
    EQUALS_RE,
    MARKER_RE,
    TEXT_FORMATS,
    Block,
    Part,
    blocks,
    skip_space,
    split_format,
    split_parts,
    unhide,
    without_feedback,
)
from .html_markdown import HTML_MAX_CHARS, html_to_markdown, html_to_text
from .problems import ParsedBank, Place, Problems, Question, ordered, too_many_options_fix, vet_question
from .text import collapse_spaces, decode_text, markdown_with_math, parse_number, plain_to_markdown

__all__ = ["TEXT_FORMATS", "parse_gift", "split_format"]

BLANK = "\\_\\_\\_\\_\\_"  # Moodle's "_____" for a missing word, escaped for Markdown


@dataclass(slots=True)
class _Comment:
    """A question's quizctl comment: its fields and the line it is on."""

    fields: dict[str, Any]
    line: int

    @property
    def forced_type(self) -> str | None:
        forced = self.fields.get("type")
        return forced if isinstance(forced, str) else None


@dataclass(slots=True)
class _Answers:
    """The answer block of one question, located in its block."""

    block: Block
    text: str  # between the braces, general feedback removed
    base: int  # offset of `text` in the block
    fmt: str  # the question text's format, the default for answers


class _GiftReader:
    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self.questions: list[Question] = []
        self.places: list[Place] = []
        self.tags: list[str] = []
        self.pool: dict[str, Any] = {}
        self.pool_line = 0

    # -------------------------------------------------- blocks

    def read(self, block: Block) -> None:
        """Parse one blank-line-separated block."""
        comment = self._comments(block)
        text = block.text
        pos = skip_space(text, 0)
        if pos < len(text) and text.startswith("$CATEGORY:", pos):
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            path = collapse_spaces(unhide(text[pos + len("$CATEGORY:") : end]))
            self.tags = [path] if path else []
            pos = skip_space(text, end)
        if pos >= len(text):  # comments (and a category) only
            if comment is not None:
                self.problems.warn(
                    comment.line,
                    "a quizctl comment with no question below it; ignored",
                    "put it right above its question",
                )
            return
        if text.startswith("::", pos):
            # A title: quizctl questions have none.  Without a closing "::" Moodle
            # keeps the rest as question text.
            end = text.find("::", pos + 2)
            pos = skip_space(text, end + 2 if end >= 0 else pos + 2)
        self._question(block, pos, comment)

    def _comments(self, block: Block) -> _Comment | None:
        """Read the block's quizctl comments: the pool's settings are kept, a question's returned."""
        found: _Comment | None = None
        for number, line in block.comments:
            pool_comment = line.lstrip().startswith(POOL_PREFIX)
            fields = read_comment(line, number, self.problems)
            if fields is None:
                continue
            if pool_comment and self.pool_line:
                self.problems.error(
                    number, f"a second pool comment (the first is on line {self.pool_line})", "keep one"
                )
            elif pool_comment:
                self.pool, self.pool_line = fields, number
            elif found is not None:
                self.problems.error(
                    number, f"a second quizctl comment for one question (line {found.line})", "merge them"
                )
            else:
                found = _Comment(fields, number)
        return found

    def _question(self, block: Block, pos: int, comment: _Comment | None) -> None:
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
        tail = unhide(text[closing + 1 :]).strip()
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
        self._build(block, pos, (opening, closing), tail, comment)

    def _brace_error(self, block: Block, offset: int, message: str, fix: str) -> None:
        self.problems.error(block.line_at(offset), message, fix, block.column_at(offset))

    # -------------------------------------------------- questions

    def _build(self, block: Block, pos: int, braces: tuple[int, int], tail: str, comment: _Comment | None) -> None:
        line = block.line_at(pos)
        opening, closing = braces
        inside = block.text[opening + 1 : closing]
        general = inside.rfind("####")
        explanation_raw = inside[general + 4 :] if general >= 0 else ""
        inside = inside[:general] if general >= 0 else inside
        fmt, head = split_format(unhide(block.text[pos:opening]), "moodle")
        text = self._markdown(head, fmt, line)
        if tail:
            text = f"{text} {BLANK}{plain_to_markdown(tail)}"
        question: Question = {"text": text}
        forced = comment.forced_type if comment is not None else None
        if self._typed(question, _Answers(block, inside, opening + 1, fmt), line, forced) is None:
            return
        explanation_fmt, explanation = split_format(unhide(explanation_raw), fmt)
        if explanation.strip():
            question["explanation"] = self._markdown(explanation, explanation_fmt, line)
        if self.tags:
            question["tags"] = list(self.tags)
        place = Place(line)
        if comment is not None:
            apply_comment(question, comment.fields)
            place.fields = dict.fromkeys(comment.fields, comment.line)
            if question.get("tags") == []:  # no tags, where the category would have given one
                del question["tags"]
        vet_question(question, line, self.problems)
        self.questions.append(ordered(question))
        self.places.append(place)

    def _typed(self, question: Question, answers: _Answers, line: int, forced: str | None) -> Question | None:
        # The order of these tests is Moodle's: it decides e.g. that {#...} is numeric
        # even when it contains "~". A quizctl comment may name the type GIFT cannot.
        body = answers.text.strip()
        if forced == "poll":
            return self._poll(question, answers, line)
        if forced == "text" and body and not body.startswith("#"):
            return self._short_answer(question, answers, line)
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
        truth = without_feedback(unhide(body)).strip().upper()
        if truth in ("T", "TRUE", "F", "FALSE"):
            question["type"] = "true_false"
            question["correct"] = truth.startswith("T")
            return question
        return self._short_answer(question, answers, line)

    def _poll(self, question: Question, answers: _Answers, line: int) -> Question | None:
        """A poll, as quizctl writes it: multiple choice with no right answer, or an essay ``{}``."""
        question["type"] = "poll"
        body = answers.text.strip()
        if not body:
            question["open"] = True
            return question
        if "~" not in body and "=" not in body:
            self.problems.error(
                line,
                "a poll's answer block is neither options nor empty",
                "write the options as {~a ~b}, or {} for free text",
            )
            return None
        parts = self._options(question, answers, line)
        return None if parts is None else question

    def _options(self, question: Question, answers: _Answers, line: int) -> list[Part] | None:
        """Read a choice block's options into question["options"]; its parts, or None (reported)."""
        block = answers.block
        parts = split_parts(answers.text, answers.base, MARKER_RE, weight_after_equals=False)
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
            fmt, raw = split_format(unhide(without_feedback(part.text)), answers.fmt)
            option = self._markdown(raw, fmt, block.line_at(part.offset))
            if not option:
                self.problems.error(block.line_at(part.offset), f"option {key} is empty", "write its text or remove it")
                return None
            options[key] = option
        question["options"] = options
        return parts

    def _choice(self, question: Question, answers: _Answers, line: int) -> Question | None:
        parts = self._options(question, answers, line)
        if parts is None:
            return None
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

    def _single(self, question: Question, parts: list[Part], line: int) -> Question | None:
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
        parts = split_parts(body[start : wrong if wrong >= 0 else len(body)], answers.base + start, EQUALS_RE)
        chosen: Question | None = None
        partial = extra = 0
        for part in parts:
            value_text = unhide(without_feedback(part.text)).strip()
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
        for part in split_parts(answers.text, answers.base, EQUALS_RE):
            fmt, raw = split_format(unhide(without_feedback(part.text)), answers.fmt)
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
    for block in blocks(decode_text(data, source)):
        reader.read(block)
    parsed = problems.finish(reader.questions, reader.places)
    parsed.pool, parsed.pool_line = reader.pool, reader.pool_line
    return parsed
