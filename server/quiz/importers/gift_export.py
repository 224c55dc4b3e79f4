"""Pools written as GIFT banks that Moodle imports and quizctl reads back as the same pool.

Each question is written in GIFT as far as GIFT goes: its text as ``[markdown]`` with
GIFT's specials escaped, the explanation as ``####`` general feedback, the first tag as
``$CATEGORY``. A poll becomes the nearest GIFT kind (multiple choice with no right
answer; an open poll an essay ``{}``). Whatever the GIFT text does not give back, the
question's quizctl comment carries (gift_meta.py): the exporter reads each question it
wrote back with the importer's own parser and puts every field that came back different
(or not at all) into the comment, so that the round trip is exact by construction.
"""

from __future__ import annotations

from typing import Any

from server.quiz.pool import DEFAULT_TIME_LIMIT_S, Pool
from server.quiz.types import DEFAULT_TYPE
from server.quiz.types.numeric import format_number

from .gift import parse_gift
from .gift_meta import FORCED_TYPES, POOL_KEYS, POOL_PREFIX, QUESTION_PREFIX, write_comment
from .gift_syntax import split_format
from .problems import BankError, Question
from .text import collapse_spaces

__all__ = ["export_gift", "pool_json"]

_GIFT_SPECIALS = str.maketrans({"\\": "\\\\", "~": "\\~", "=": "\\=", "#": "\\#", "{": "\\{", "}": "\\}", ":": "\\:"})


def pool_json(pool: Pool) -> dict[str, Any]:
    """A checked pool as the pool file form export starts from (`Pool.to_json`).

    A question's own ``live_results`` is added where it differs from the pool's, since
    `to_json` leaves it out.
    """
    data = pool.to_json()
    for question, written in zip(pool.questions, data["questions"], strict=True):
        if question.live_results != pool.live_results:
            written["live_results"] = question.live_results
    return data


def export_gift(pool: dict[str, Any]) -> str:
    """A pool (in its JSON form) as a GIFT bank; `parse_gift` gives the same pool back.

    `ValueError` for a question the pool format does not allow (an unknown type), which
    a pool checked by the loader never has.
    """
    header = {key: pool[key] for key in POOL_KEYS if pool.get(key) is not None}
    lines = [
        f"// {_one_line(str(pool.get('title', '')))}",
        "// Exported by quizctl as GIFT (Moodle: Question bank > Import > GIFT format).",
        write_comment(POOL_PREFIX, header),
        "",
    ]
    defaults = {
        "time_limit": pool.get("time_limit_default") or DEFAULT_TIME_LIMIT_S,
        "live_results": bool(pool.get("live_results")),
    }
    category: str | None = None
    for question in pool.get("questions", []):
        wanted = _canonical(question, defaults)
        tags = wanted.pop("tags", [])
        if tags and tags[0] != category and _category_survives(tags[0]):
            category = tags[0]
            lines += [f"$CATEGORY: {category}", ""]
        gift = _question_gift(wanted)
        fields = _comment_fields(wanted, gift)
        if tags != ([category] if category else []):
            fields["tags"] = tags
        if fields:
            lines.append(write_comment(QUESTION_PREFIX, fields))
        lines += [gift, ""]
    return "\n".join(lines)


def _canonical(question: dict[str, Any], defaults: dict[str, Any]) -> Question:
    """The question's fields as the importer gives them back: defaults and nulls left out."""
    wanted: Question = {"type": question.get("type") or DEFAULT_TYPE}
    for key, value in question.items():
        if value is None or key == "type" or defaults.get(key, ...) == value:
            continue
        if (key, value) in (("points", 1), ("tolerance", 0), ("match", "fold"), ("open", False)):
            continue
        if value in ("", []) and key in ("explanation", "tags"):
            continue
        wanted[key] = sorted(value) if key == "correct" and isinstance(value, list) else value
    return wanted


def _comment_fields(wanted: Question, gift: str) -> dict[str, Any]:
    """The fields the question's comment must carry: those the GIFT text does not give back."""
    fields: dict[str, Any] = {}
    back = _read_back(gift, fields)
    if back is None or back["type"] != wanted["type"]:
        if wanted["type"] not in FORCED_TYPES:
            raise ValueError(f"a {wanted['type']} question that GIFT does not read back: {gift[:80]!r}")
        fields["type"] = wanted["type"]
        back = _read_back(gift, fields)
        if back is None:
            raise ValueError(f"a {wanted['type']} question that GIFT does not read back: {gift[:80]!r}")
    for key in [*wanted, *(key for key in back if key not in wanted)]:
        if key in ("type", "tags"):
            continue
        if key == "options" and isinstance(wanted.get(key), dict) and isinstance(back.get(key), dict):
            changed = {k: v for k, v in wanted[key].items() if back[key].get(k) != v}
            if changed or set(back[key]) - set(wanted[key]):
                fields[key] = changed if set(back[key]) <= set(wanted[key]) else wanted[key]
        elif wanted.get(key) != back.get(key):
            fields[key] = wanted.get(key)
    return fields


def _read_back(gift: str, fields: dict[str, Any]) -> Question | None:
    """What the importer reads from one exported question (with its comment), or None."""
    text = f"{write_comment(QUESTION_PREFIX, fields)}\n{gift}" if fields else gift
    try:
        (question,) = parse_gift(text, "<export>").questions
    except (BankError, ValueError):
        return None
    question.pop("tags", None)
    return question


# ---------------------------------------------------------------- one question in GIFT


def _question_gift(question: Question) -> str:
    kind = question["type"]
    explanation = question.get("explanation")
    feedback = f"####{_guard_format(explanation)}" if isinstance(explanation, str) and explanation else ""
    head = f"[markdown]{_escape(str(question.get('text', '')))}"
    if kind in ("single", "multiple") or (kind == "poll" and not question.get("open")):
        return f"{head}{{\n{_options_gift(question)}{_indented(feedback)}}}"
    if kind == "poll":
        return f"{head}{{{feedback}}}"
    if kind == "true_false":
        return f"{head}{{{'TRUE' if question.get('correct') else 'FALSE'}{feedback}}}"
    if kind == "numeric":
        return f"{head}{{#{_number_gift(question)}{feedback}}}"
    if kind == "text":
        accepted = "".join(f"\t={_guard_weight(_escape(str(a)), '%100%')}\n" for a in question.get("accept", []))
        return f"{head}{{\n{accepted}{_indented(feedback)}}}"
    raise ValueError(f"{kind!r} is not a question type")


def _options_gift(question: Question) -> str:
    options = question.get("options") or {}
    correct = question.get("correct")
    kind = question["type"]
    lines: list[str] = []
    if kind == "single":
        for key, option in options.items():
            text = _option_text(option)
            lines.append(f"\t={text}" if key == correct else f"\t~{_guard_weight(text, '%0%')}")
    elif kind == "multiple":
        # Moodle only takes the grades of its list: 100/n for n = 1..6 and -100 are on it.
        right = list(correct or [])
        share = format_number(round(100 / max(1, len(right)), 5))
        for key, option in options.items():
            weight = f"%{share}%" if key in right else "%-100%"
            lines.append(f"\t~{weight}{_option_text(option)}")
    else:  # a poll: multiple choice with no right answer
        lines = [f"\t~{_guard_weight(_option_text(option), '%0%')}" for option in options.values()]
    return "".join(line + "\n" for line in lines)


def _option_text(option: Any) -> str:
    return _guard_format(str(option.get("text", "")) if isinstance(option, dict) else str(option))


def _guard_format(text: str) -> str:
    """Escaped text; text that itself starts like "[html]" is marked [markdown] first."""
    escaped = _escape(text)
    return f"[markdown]{escaped}" if split_format(text, "")[0] else escaped


def _guard_weight(text: str, weight: str) -> str:
    # "~%50%x" would be read as a weight: an explicit weight first keeps the text.
    return weight + text if text.startswith("%") else text


def _number_gift(question: Question) -> str:
    if "range" in question:
        low, high = question["range"]
        return f"{format_number(low)}..{format_number(high)}"
    tolerance = question.get("tolerance") or 0
    value = format_number(question.get("correct", 0))
    return f"{value}:{format_number(tolerance)}" if tolerance else value


def _indented(feedback: str) -> str:
    return f"\t{feedback}\n" if feedback else ""


def _escape(text: str) -> str:
    """Text with GIFT's specials escaped and newlines as ``\\n``: always one physical line."""
    return text.strip().translate(_GIFT_SPECIALS).replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")


def _category_survives(tag: str) -> bool:
    """Whether ``$CATEGORY: tag`` reads back as exactly `tag`."""
    return bool(tag) and tag == _one_line(tag) and "\\" not in tag


def _one_line(text: str) -> str:
    return collapse_spaces(text.replace("\r", " ").replace("\n", " "))
