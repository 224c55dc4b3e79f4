"""The arithmetic behind the report: quartiles, correlation, answer distributions, histograms.

Pure functions over numbers and `AnswerRow`s; `statistics` decides what to apply them to. The
formulas, with their sources, are in docs/report.md.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from server.reports.data import AnswerRow, JsonValue, QuestionData

BarKind: TypeAlias = Literal["option", "bin", "text", "other", "missing"]

HISTOGRAM_MAX_BINS = 10
TOP_TEXTS = 8
# Histogram range: Tukey's fences, q1 - 1.5 IQR to q3 + 1.5 IQR, cut to the values given and widened
# to show the right range, so one typo (981 for 9.81) does not squash every other bar into one; values
# outside land in the end bins, which are then labelled open-ended ("below x", "x and above").
HISTOGRAM_FENCE = 1.5
TRUE_FALSE_OPTIONS = {"true": "True", "false": "False"}


@dataclass(frozen=True, slots=True)
class Bar:
    """One line of an answer distribution: an option, a histogram bin, a frequent text, or the rest."""

    key: str  # option key, normalised text, or "lo..hi" for a bin
    label: str  # what a person reads next to the bar (plain text: escape it when rendering)
    count: int
    share: float  # count / participants of the question
    right: bool  # the right answer (or a bin overlapping the right range); never set for polls
    kind: BarKind
    lo: float | None = None  # bins only
    hi: float | None = None
    open: bool = False  # an end bin that also holds the values beyond its outer edge


@dataclass(frozen=True, slots=True)
class Distribution:
    """How a question's participants answered, ready to chart."""

    shape: Literal["options", "histogram", "texts"]
    bars: tuple[Bar, ...]
    right_range: tuple[float, float] | None = None  # numeric questions: the accepted interval


@dataclass(frozen=True, slots=True)
class TimeSpread:
    """Response times of the answers given (missed questions have none), in milliseconds."""

    count: int
    minimum: float | None
    q1: float | None
    median: float | None
    q3: float | None
    maximum: float | None
    iqr: float | None  # interquartile range q3 - q1: the spread of the middle half


# ---------------------------------------------------------------- plain statistics


def quantile(sorted_values: Sequence[float], p: float) -> float:
    """The p-quantile by linear interpolation between order statistics (Hyndman & Fan type 7).

    The same rule as numpy's default, R's default, Excel's QUARTILE.INC and Python's
    statistics.quantiles(method="inclusive"): position h = (n - 1) * p, interpolated.
    """
    if not sorted_values:
        raise ValueError("quantile of no values")
    h = (len(sorted_values) - 1) * p
    low = math.floor(h)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (h - low) * (sorted_values[high] - sorted_values[low])


def time_spread(elapsed_ms: Iterable[int]) -> TimeSpread:
    """Five-number summary of response times."""
    values = sorted(float(v) for v in elapsed_ms)
    if not values:
        return TimeSpread(0, None, None, None, None, None, None)
    q1, q3 = quantile(values, 0.25), quantile(values, 0.75)
    return TimeSpread(len(values), values[0], q1, quantile(values, 0.5), q3, values[-1], q3 - q1)


def mean(values: Sequence[float]) -> float | None:
    """Arithmetic mean, None for no values."""
    return math.fsum(values) / len(values) if values else None


def sample_sd(values: Sequence[float]) -> float | None:
    """Standard deviation with n - 1 in the denominator (as Moodle's SD column); None below 2 values."""
    if len(values) < 2:
        return None
    centre = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - centre) ** 2 for v in values) / (len(values) - 1))


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's correlation coefficient; None when either side does not vary (the index is undefined)."""
    n = len(xs)
    if n != len(ys):
        raise ValueError("pearson needs two sequences of the same length")
    if n < 2:
        return None
    mx, my = math.fsum(xs) / n, math.fsum(ys) / n
    sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    syy = math.fsum((y - my) ** 2 for y in ys)
    # Rounding noise on a constant column is not variation.
    if sxx <= 1e-12 or syy <= 1e-12:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


# ---------------------------------------------------------------- answers in normal form


def answer_keys(answer: str) -> tuple[str, ...]:
    """The option keys of a multiple-response answer, sorted and unique; accepts "A,C", "A C", "A;C" and '["A","C"]'."""
    text = answer.strip()
    if text.startswith("["):
        try:
            decoded = json.loads(text)
        except ValueError:
            decoded = None
        if isinstance(decoded, list):
            return tuple(sorted({str(item).strip() for item in decoded if str(item).strip()}))
    return tuple(sorted({part for part in re.split(r"[\s,;]+", text) if part}))


def normal_text(answer: str) -> str:
    """A free-text answer as compared for counting: trimmed, case-folded, inner whitespace collapsed."""
    return " ".join(answer.split()).casefold()


def parse_number(answer: str) -> float | None:
    """A numeric answer as a finite float ("3,5" read as 3.5); None when it is not a number."""
    text = answer.strip().replace("\u2212", "-")
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def answer_group(question: QuestionData, answer: str) -> str:
    """The identity two answers share when they are 'the same answer' (for 'most chose the same wrong answer')."""
    if question.kind == "multiple":
        return ",".join(answer_keys(answer))
    if question.kind == "true_false":
        return answer.strip().lower()
    if question.kind == "numeric":
        number = parse_number(answer)
        return answer.strip() if number is None else repr(number)
    if question.kind == "text" or (question.kind == "poll" and not question.options):
        return normal_text(answer)
    return answer.strip()


def choice_options(question: QuestionData) -> dict[str, str]:
    """The options to count against: a true/false question without option texts gets True and False."""
    if question.kind == "true_false" and not question.options:
        return dict(TRUE_FALSE_OPTIONS)
    return dict(question.options)


def right_keys(question: QuestionData) -> frozenset[str]:
    """The option keys marked right, for choice questions (empty for everything else)."""
    correct = question.correct
    if question.kind == "true_false":
        if isinstance(correct, bool):
            return frozenset({"true" if correct else "false"})
        return frozenset({str(correct).strip().lower()}) if correct is not None else frozenset()
    if question.kind == "single" and correct is not None:
        return frozenset({str(correct)})
    if question.kind == "multiple":
        if isinstance(correct, list):
            return frozenset(str(key) for key in correct)
        if isinstance(correct, str):
            return frozenset(answer_keys(correct))
    return frozenset()


def right_range(correct: JsonValue) -> tuple[float, float] | None:
    """The accepted interval of a numeric question: {"range": [lo, hi]} or {"value": v, "tolerance": t}."""
    if not isinstance(correct, dict):
        return None
    span = correct.get("range")
    if isinstance(span, list) and len(span) == 2 and all(_is_number(v) for v in span):
        lo, hi = float(span[0]), float(span[1])  # type: ignore[arg-type]
        return (min(lo, hi), max(lo, hi))
    if isinstance(span, dict) and _is_number(span.get("min")) and _is_number(span.get("max")):
        lo, hi = float(span["min"]), float(span["max"])  # type: ignore[arg-type]
        return (min(lo, hi), max(lo, hi))
    value = correct.get("value")
    if _is_number(value):
        tolerance = correct.get("tolerance")
        slack = abs(float(tolerance)) if _is_number(tolerance) else 0.0  # type: ignore[arg-type]
        return (float(value) - slack, float(value) + slack)  # type: ignore[arg-type]
    return None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# ---------------------------------------------------------------- distributions


def distribution(question: QuestionData, given: Sequence[AnswerRow], participants: int) -> Distribution:
    """The answer distribution of one question; `given` are the rows with an answer (not missed)."""
    missing = participants - len(given)
    if question.kind in ("single", "multiple", "true_false") or (question.kind == "poll" and question.options):
        bars = _option_bars(question, given, participants)
        shape: Literal["options", "histogram", "texts"] = "options"
        span = None
    elif question.kind == "numeric":
        span = right_range(question.correct)
        bars = _histogram_bars(given, participants, span)
        shape = "histogram"
    else:
        bars = _text_bars(question, given, participants)
        shape, span = "texts", None
    if missing > 0:
        bars.append(Bar("", "No answer", missing, _share(missing, participants), False, "missing"))
    return Distribution(shape, tuple(bars), span)


def _share(count: int, participants: int) -> float:
    return count / participants if participants else 0.0


def _option_bars(question: QuestionData, given: Sequence[AnswerRow], participants: int) -> list[Bar]:
    options = choice_options(question)
    right = right_keys(question) if question.kind != "poll" else frozenset()
    counts: Counter[str] = Counter()
    for row in given:
        assert row.answer is not None
        if question.kind == "multiple":
            counts.update(answer_keys(row.answer))
        else:
            counts[answer_group(question, row.answer)] += 1
    bars = [
        Bar(
            key,
            f"{key}: {text}" if question.kind != "true_false" else text,
            counts[key],
            _share(counts[key], participants),
            key in right,
            "option",
        )
        for key, text in options.items()
    ]
    unknown = sum(count for key, count in counts.items() if key not in options)
    if unknown:
        bars.append(Bar("", "Not one of the options", unknown, _share(unknown, participants), False, "other"))
    return bars


def _text_bars(question: QuestionData, given: Sequence[AnswerRow], participants: int) -> list[Bar]:
    counts: Counter[str] = Counter()
    right_votes: Counter[str] = Counter()
    shown: dict[str, str] = {}
    for row in given:
        assert row.answer is not None
        group = normal_text(row.answer)
        counts[group] += 1
        right_votes[group] += 1 if row.correct else -1
        shown.setdefault(group, " ".join(row.answer.split()))
    # Most frequent first; equal counts in alphabetical order so the report is reproducible.
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    scored = question.kind != "poll"
    bars = [
        Bar(
            group,
            shown[group] or "(empty)",
            count,
            _share(count, participants),
            scored and right_votes[group] > 0,
            "text",
        )
        for group, count in ranked[:TOP_TEXTS]
    ]
    rest = ranked[TOP_TEXTS:]
    if rest:
        rest_count = sum(count for _, count in rest)
        label = f"{len(rest)} other answer" + ("s" if len(rest) != 1 else "")
        bars.append(Bar("", label, rest_count, _share(rest_count, participants), False, "other"))
    return bars


def _histogram_bars(given: Sequence[AnswerRow], participants: int, span: tuple[float, float] | None) -> list[Bar]:
    values: list[float] = []
    not_numbers = 0
    for row in given:
        assert row.answer is not None
        number = parse_number(row.answer)
        if number is None:
            not_numbers += 1
        else:
            values.append(number)
    bars: list[Bar] = []
    if values:
        values.sort()
        edges = _bin_edges(values, span)
        counts = [0] * (len(edges) - 1)
        last = len(counts) - 1
        for value in values:
            counts[_bin_of(value, edges, last)] += 1
        open_low, open_high = values[0] < edges[0], values[-1] > edges[-1]
        for i, count in enumerate(counts):
            lo, hi = edges[i], edges[i + 1]
            if i == 0 and open_low:
                label = f"below {format_number(hi)}" if last else "all values"
            elif i == last and open_high:
                label = f"{format_number(lo)} and above"
            else:
                label = f"{format_number(lo)} to {format_number(hi)}"
            right = span is not None and lo <= span[1] and hi >= span[0]
            beyond = (i == 0 and open_low) or (i == last and open_high)
            bars.append(Bar(f"{lo!r}..{hi!r}", label, count, _share(count, participants), right, "bin", lo, hi, beyond))
    if not_numbers:
        bars.append(Bar("", "Not a number", not_numbers, _share(not_numbers, participants), False, "other"))
    return bars


def _bin_edges(values: Sequence[float], span: tuple[float, float] | None) -> list[float]:
    q1, q3 = quantile(values, 0.25), quantile(values, 0.75)
    lo = max(values[0], q1 - HISTOGRAM_FENCE * (q3 - q1))
    hi = min(values[-1], q3 + HISTOGRAM_FENCE * (q3 - q1))
    if span is not None:
        lo, hi = min(lo, span[0]), max(hi, span[1])
    if hi - lo <= 0:
        pad = abs(lo) * 0.05 or 0.5
        lo, hi = lo - pad, hi + pad
    bins = max(1, min(HISTOGRAM_MAX_BINS, len({v for v in values if lo <= v <= hi})))
    width = (hi - lo) / bins
    return [lo + width * i for i in range(bins)] + [hi]


def _bin_of(value: float, edges: Sequence[float], last: int) -> int:
    if value <= edges[0]:
        return 0
    if value >= edges[-1]:
        return last
    width = (edges[-1] - edges[0]) / (last + 1)
    return min(last, int((value - edges[0]) / width))


def format_number(value: float) -> str:
    """A number for a label: up to 4 significant digits, no trailing zeros, a real minus sign."""
    text = f"{value:.4g}"
    if "e" not in text and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace("-", "\u2212")


def percent(share: float | None) -> str:
    """A share as people read it: '42 %' (whole percent), an em dash when unknown."""
    return "\u2014" if share is None else f"{format_number(round(share * 100))} %"
