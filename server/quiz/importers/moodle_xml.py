"""Moodle XML question banks (Question bank > Export > Moodle XML format).

Imported: multichoice (single or multiple answers), truefalse, numerical (with tolerance
and base unit), shortanswer (``usecase`` 1 matches exactly) and the category path and
question tags as ``tags``. Skipped with a warning naming the line (errors under
``strict``): matching, essay, cloze, description, drag-and-drop, calculated, random,
ordering and any other type.

Question text is HTML, turned into Markdown by html_markdown.py. Images embedded as
``<file encoding="base64">`` and referenced as ``@@PLUGINFILE@@/name.png`` become assets
with sanitised names (assets.py). The file itself is read by xml_document.py, which
refuses DOCTYPE and ENTITY declarations.
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from server.quiz.content import IMAGE_MAX_BYTES
from server.quiz.types.choice import OPTION_KEYS, OPTIONS_MIN
from server.quiz.types.numeric import UNIT_MAX_CHARS

from .assets import Assets, image_extension
from .html_markdown import HTML_MAX_CHARS, HtmlImage, html_to_markdown, html_to_text
from .problems import ParsedBank, Place, Problems, Question, ordered, too_many_options_fix, vet_question
from .text import collapse_spaces, decode_text, escape_markdown, markdown_with_math, parse_number, plain_to_markdown
from .xml_document import parse_document

__all__ = ["parse_moodle_xml"]

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


def parse_moodle_xml(data: str | bytes, source: str, *, strict: bool = False) -> ParsedBank:
    """Parse a Moodle XML bank; `BankError` lists every problem with its line."""
    problems = Problems(source, strict=strict)
    if isinstance(data, str):
        data = decode_text(data, source)
    document = parse_document(data, problems)
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
    return problems.finish(reader.questions, reader.places, reader.assets.files)


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
        self.places: list[Place] = []
        self.assets = Assets()
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
        if question is None:
            self.assets.rollback(mark)
        else:
            self._finish(question, element, line)

    # -------------------------------------------------- shared parts

    def _set_category(self, element: ET.Element) -> None:
        path = collapse_spaces(_child_text(element.find("category")))
        self.category = path or None

    def _finish(self, question: Question, element: ET.Element, line: int) -> None:
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
        vet_question(question, line, self.problems)
        self.questions.append(ordered(question))
        self.places.append(Place(line))

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
        # The pool loader checks every image again; these checks name the file Moodle knew.
        if len(encoded) > IMAGE_MAX_BYTES * 4 // 3 + 4096:
            raise _ImageError(f"{name} is larger than 2 MiB", "shrink the image below 2 MiB in Moodle and export again")
        try:
            data = base64.b64decode("".join(encoded.split()), validate=True)
        except (binascii.Error, ValueError):
            raise _ImageError(f"{name} is not valid base64", "export the bank from Moodle again") from None
        extension = image_extension(data)
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
