"""Hand-written SVG charts for the report: no plotting library, no script, nothing fetched.

Every chart is returned as a `<figure>`: the `<svg role="img">` with its own `<title>` and `<desc>`
(its accessible name and description), followed by a `<figcaption>` holding the same figures as a
small table or sentence, so the numbers can be read without the picture, by a screen reader, or
when a printer drops the shading.

Legible in greyscale: the right answer is never marked by colour alone. Its bar is hatched (dark
stripes on a pale ground, against the solid mid-grey of the others) AND carries a "✓" and the word
"right". Every text that reaches the SVG or the caption (option texts, free-text answers, names)
goes through `esc`, so an answer such as `<script>` is shown, never interpreted.

Element ids: several charts share one HTML document, so every id inside a chart starts with the
chart's own id (`chart_id`), which the caller keeps unique.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence

from server.reports.measures import Bar, TimeSpread, format_number, percent

WIDTH = 640  # full-width charts (response time, scores, trend), in px at 100 %
SIDE_WIDTH = 440  # answer charts, which sit beside their table on paper and wide screens
FONT = 12
SMALL = 11
INK = "#111"
WRONG_FILL = "#8d949c"  # solid mid-grey: prints as grey, distinct from the hatching
MISSING_FILL = "#ffffff"
HATCH_GROUND = "#d7ecd9"
HATCH_INK = "#14532d"
RIGHT_MARK = "\u2713"
LABEL_CHARS = 22  # option texts longer than this are shortened in the picture (the table has them whole)
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def esc(text: object) -> str:
    """Text made inert for HTML and SVG, in content and in quoted attributes."""
    return html.escape(str(text), quote=True)


def safe_id(text: str) -> str:
    """An element id from any text: letters, digits, '-' and '_' only, starting with a letter."""
    cleaned = _ID_UNSAFE.sub("-", text).strip("-") or "chart"
    return cleaned if cleaned[0].isalpha() else f"c-{cleaned}"


def shorten(text: str, limit: int = LABEL_CHARS) -> str:
    """One line of at most `limit` characters, with an ellipsis when cut."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "\u2026"


def seconds(ms: float | None) -> str:
    """Milliseconds as seconds for a label: '7.2 s'."""
    return "\u2014" if ms is None else f"{format_number(round(ms / 1000, 1))} s"


# ---------------------------------------------------------------- the frame every chart shares


def _figure(chart_id: str, height: float, title: str, desc: str, body: str, caption: str, *, width: int = WIDTH) -> str:
    cid = safe_id(chart_id)
    layout = "chart side" if width == SIDE_WIDTH else "chart"
    return (
        f'<figure class="{layout}" id="{cid}">'
        f'<svg role="img" aria-labelledby="{cid}-t {cid}-d" viewBox="0 0 {width} {_n(height)}" '
        f'width="{width}" height="{_n(height)}" preserveAspectRatio="xMinYMin meet" '
        f'font-size="{FONT}" fill="{INK}">'
        f'<title id="{cid}-t">{esc(title)}</title><desc id="{cid}-d">{esc(desc)}</desc>'
        f"{_hatch(cid)}{body}</svg>"
        f'<figcaption class="alt">{caption}</figcaption></figure>'
    )


def _hatch(cid: str) -> str:
    return (
        f'<defs><pattern id="{cid}-hatch" patternUnits="userSpaceOnUse" width="6" height="6" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{HATCH_GROUND}"/>'
        f'<rect width="2.5" height="6" fill="{HATCH_INK}"/></pattern></defs>'
    )


def _n(value: float) -> str:
    """A coordinate, short: 12.5 not 12.500000001."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = FONT, weight: str = "") -> str:
    bold = ' font-weight="bold"' if weight else ""
    return f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" font-size="{size}"{bold}>{esc(text)}</text>'


def _bar_fill(cid: str, bar: Bar) -> str:
    if bar.right:
        return f'fill="url(#{cid}-hatch)" stroke="{INK}" stroke-width="1"'
    if bar.kind == "missing":
        return f'fill="{MISSING_FILL}" stroke="{INK}" stroke-width="1" stroke-dasharray="3 2"'
    return f'fill="{WRONG_FILL}" stroke="{INK}" stroke-width="0.5"'


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], caption: str = "") -> str:
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    title = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f'<table class="alt-table">{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _right_word(bar: Bar) -> str:
    return f"{RIGHT_MARK} right" if bar.right else ""


# ---------------------------------------------------------------- answer distribution


def distribution_chart(chart_id: str, bars: Sequence[Bar], *, title: str, participants: int) -> str:
    """Horizontal bars, one per option (or frequent answer), the right one hatched and marked ✓."""
    cid = safe_id(chart_id)
    row_h, top, label_w, right_w = 24, 8, 180, 96
    area = SIDE_WIDTH - label_w - right_w
    peak = max((bar.count for bar in bars), default=0) or 1
    parts: list[str] = []
    for i, bar in enumerate(bars):
        y = top + i * row_h
        width = area * bar.count / peak
        label = ("\u2713 " if bar.right else "") + shorten(bar.label)
        parts.append(_text(label_w - 8, y + 16, label, anchor="end", weight="bold" if bar.right else ""))
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{_n(max(width, 0.5))}" height="{row_h - 6}" '
            f"{_bar_fill(cid, bar)}/>"
        )
        value = f"{bar.count} ({percent(bar.share)})" + (" right" if bar.right else "")
        parts.append(_text(label_w + width + 6, y + 16, value, size=SMALL))
    height = top * 2 + max(1, len(bars)) * row_h
    parts.append(f'<line x1="{label_w}" y1="{top}" x2="{label_w}" y2="{_n(height - top)}" stroke="{INK}"/>')
    right = [bar.label for bar in bars if bar.right]
    desc = (
        f"Answers of {participants} participants: "
        + "; ".join(f"{bar.label}: {bar.count} ({percent(bar.share)})" for bar in bars)
        + (f". Right: {', '.join(right)}." if right else ".")
    )
    caption = _table(
        ["Answer", "Students", "Share", "Right"],
        [[bar.label, str(bar.count), percent(bar.share), _right_word(bar)] for bar in bars],
    )
    return _figure(cid, height, title, desc, "".join(parts), caption, width=SIDE_WIDTH)


# ---------------------------------------------------------------- numeric histogram


def histogram_chart(
    chart_id: str,
    bars: Sequence[Bar],
    right_range: tuple[float, float] | None,
    *,
    title: str,
    participants: int,
) -> str:
    """Vertical bars over the numbers given; bins touching the accepted range hatched, the range bracketed."""
    cid = safe_id(chart_id)
    bins = [bar for bar in bars if bar.kind == "bin" and bar.lo is not None and bar.hi is not None]
    others = [bar for bar in bars if bar.kind != "bin"]
    left, right_edge, top, base = 24, SIDE_WIDTH - 24, 22, 170
    parts: list[str] = []
    if bins:
        lo, hi = bins[0].lo or 0.0, bins[-1].hi or 0.0
        span = (hi - lo) or 1.0
        peak = max(bar.count for bar in bins) or 1

        def x_of(value: float) -> float:
            return left + (right_edge - left) * (min(max(value, lo), hi) - lo) / span

        for bar in bins:
            x0, x1 = x_of(bar.lo or lo), x_of(bar.hi or hi)
            h = (base - top) * bar.count / peak
            parts.append(
                f'<rect x="{_n(x0)}" y="{_n(base - h)}" width="{_n(max(x1 - x0 - 1, 0.5))}" '
                f'height="{_n(max(h, 0.5))}" {_bar_fill(cid, bar)}/>'
            )
            mark = f"{RIGHT_MARK} " if bar.right else ""
            parts.append(_text((x0 + x1) / 2, base - h - 4, f"{mark}{bar.count}", anchor="middle", size=SMALL))
        edges = [bins[0].lo or lo] + [bar.hi or hi for bar in bins]
        labelled = 1 if len(edges) <= 6 else 2  # every other edge when they would crowd
        for i, edge in enumerate(edges):
            parts.append(
                f'<line x1="{_n(x_of(edge))}" y1="{base}" x2="{_n(x_of(edge))}" y2="{base + 4}" stroke="{INK}"/>'
            )
            text = format_number(edge)
            if i == 0 and bins[0].open:
                text = "\u2190 less"  # the first bin also holds everything below its edge
            elif i == len(edges) - 1 and bins[-1].open:
                text = "more \u2192"
            if i % labelled == 0 or i == len(edges) - 1:
                anchor = "start" if i == 0 else "end" if i == len(edges) - 1 else "middle"
                parts.append(_text(x_of(edge), base + 16, text, anchor=anchor, size=SMALL))
        if right_range is not None:
            r0, r1 = x_of(right_range[0]), x_of(right_range[1])
            y = base + 30
            parts.append(
                f'<rect x="{_n(r0)}" y="{y - 6}" width="{_n(max(r1 - r0, 2))}" height="8" '
                f'fill="url(#{cid}-hatch)" stroke="{INK}"/>'
            )
            range_text = f"{RIGHT_MARK} right: {format_number(right_range[0])} to {format_number(right_range[1])}"
            anchor = "end" if r1 > (left + right_edge) / 2 else "start"
            parts.append(_text(r1 if anchor == "end" else r0, y + 18, range_text, anchor=anchor, weight="bold"))
    parts.append(f'<line x1="{left}" y1="{base}" x2="{right_edge}" y2="{base}" stroke="{INK}"/>')
    height = base + 58
    range_words = (
        f" The accepted range is {format_number(right_range[0])} to {format_number(right_range[1])}."
        if right_range is not None
        else ""
    )
    desc = (
        f"Histogram of the numbers given by {participants} participants: "
        + "; ".join(f"{bar.label}: {bar.count}" for bar in bins)
        + "."
        + range_words
        + "".join(f" {bar.label}: {bar.count}." for bar in others)
    )
    caption = _table(
        ["Range", "Students", "Share", "Right"],
        [
            [bar.label, str(bar.count), percent(bar.share), f"{RIGHT_MARK} right range" if bar.right else ""]
            for bar in bars
        ],
        caption=range_words.strip(),
    )
    return _figure(cid, height, title, desc, "".join(parts), caption, width=SIDE_WIDTH)


# ---------------------------------------------------------------- response time


def time_chart(chart_id: str, spread: TimeSpread, time_limit_s: int, *, title: str) -> str:
    """A box plot of response times: whiskers fastest to slowest, box the middle half, bar the median."""
    cid = safe_id(chart_id)
    left, right_edge, mid = 20, WIDTH - 20, 34
    limit_ms = max(float(time_limit_s) * 1000, spread.maximum or 0.0, 1.0)

    def x_of(ms: float) -> float:
        return left + (right_edge - left) * ms / limit_ms

    parts = [f'<line x1="{left}" y1="62" x2="{right_edge}" y2="62" stroke="{INK}"/>']
    step = _nice_step(limit_ms / 1000)
    tick = 0.0
    while tick * 1000 <= limit_ms + 1e-6:
        x = x_of(tick * 1000)
        parts.append(f'<line x1="{_n(x)}" y1="62" x2="{_n(x)}" y2="66" stroke="{INK}"/>')
        parts.append(_text(x, 79, f"{format_number(tick)} s", anchor="middle", size=SMALL))
        tick += step
    if spread.count and None not in (spread.minimum, spread.q1, spread.median, spread.q3, spread.maximum):
        lo, q1, med, q3, hi = (
            x_of(v or 0.0) for v in (spread.minimum, spread.q1, spread.median, spread.q3, spread.maximum)
        )
        parts += [
            f'<line x1="{_n(lo)}" y1="{mid}" x2="{_n(q1)}" y2="{mid}" stroke="{INK}"/>',
            f'<line x1="{_n(q3)}" y1="{mid}" x2="{_n(hi)}" y2="{mid}" stroke="{INK}"/>',
            f'<line x1="{_n(lo)}" y1="{mid - 8}" x2="{_n(lo)}" y2="{mid + 8}" stroke="{INK}"/>',
            f'<line x1="{_n(hi)}" y1="{mid - 8}" x2="{_n(hi)}" y2="{mid + 8}" stroke="{INK}"/>',
            (
                f'<rect x="{_n(q1)}" y="{mid - 14}" width="{_n(max(q3 - q1, 1))}" height="28" '
                f'fill="#e4e7eb" stroke="{INK}"/>'
            ),
            f'<line x1="{_n(med)}" y1="{mid - 14}" x2="{_n(med)}" y2="{mid + 14}" stroke="{INK}" stroke-width="3"/>',
            _text(med, mid - 18, f"median {seconds(spread.median)}", anchor="middle", size=SMALL),
        ]
    else:
        parts.append(_text(WIDTH / 2, mid + 4, "no response times", anchor="middle"))
    sentence = time_sentence(spread, time_limit_s)
    return _figure(cid, 88, title, sentence, "".join(parts), f"<p>{esc(sentence)}</p>")


def time_sentence(spread: TimeSpread, time_limit_s: int) -> str:
    """The response times in words (the text alternative of the box plot)."""
    if not spread.count:
        return f"No response times were recorded (time limit {time_limit_s} s)."
    answers = "1 answer" if spread.count == 1 else f"{spread.count} answers"
    return (
        f"{answers}: median {seconds(spread.median)}, middle half {seconds(spread.q1)} to {seconds(spread.q3)} "
        f"(spread {seconds(spread.iqr)}), fastest {seconds(spread.minimum)}, slowest {seconds(spread.maximum)}; "
        f"time limit {time_limit_s} s."
    )


def _nice_step(span_s: float) -> float:
    raw = span_s / 8
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return float(factor * magnitude)
    return 10.0 * magnitude


# ---------------------------------------------------------------- scores and the course trend


def score_chart(chart_id: str, bins: Sequence[Bar], *, title: str) -> str:
    """Students per tenth of the possible score, as vertical bars."""
    cid = safe_id(chart_id)
    left, right_edge, top, base = 30, WIDTH - 10, 18, 110
    slot = (right_edge - left) / max(1, len(bins))
    peak = max((bar.count for bar in bins), default=0) or 1
    parts: list[str] = []
    for i, bar in enumerate(bins):
        x = left + i * slot
        h = (base - top) * bar.count / peak
        parts.append(
            f'<rect x="{_n(x + 2)}" y="{_n(base - h)}" width="{_n(slot - 4)}" height="{_n(max(h, 0.5))}" '
            f'fill="{WRONG_FILL}" stroke="{INK}" stroke-width="0.5"/>'
        )
        parts.append(_text(x + slot / 2, base - h - 4, str(bar.count), anchor="middle", size=SMALL))
        parts.append(_text(x + slot / 2, base + 15, bar.label, anchor="middle", size=SMALL - 1))
    parts.append(f'<line x1="{left}" y1="{base}" x2="{right_edge}" y2="{base}" stroke="{INK}"/>')
    desc = "Students per score band: " + "; ".join(f"{bar.label}: {bar.count}" for bar in bins) + "."
    return _figure(cid, base + 26, title, desc, "".join(parts), f"<p>{esc(desc)}</p>")


def trend_chart(chart_id: str, points: Sequence[tuple[str, str, float | None]], *, title: str) -> str:
    """Mean score per session as a line over time; points are (session, date, mean share or None)."""
    cid = safe_id(chart_id)
    left, right_edge, top, base = 46, WIDTH - 10, 16, 160
    inner_left, inner_right = left + 36, right_edge - 36  # room for the first and last date labels
    count = len(points)

    def x_of(i: int) -> float:
        if count == 1:
            return (inner_left + inner_right) / 2
        return inner_left + (inner_right - inner_left) * i / (count - 1)

    def y_of(share: float) -> float:
        return base - (base - top) * min(max(share, 0.0), 1.0)

    parts: list[str] = []
    for level in (0, 25, 50, 75, 100):
        y = y_of(level / 100)
        parts.append(
            f'<line x1="{left}" y1="{_n(y)}" x2="{right_edge}" y2="{_n(y)}" stroke="#c8ccd1" '
            f'stroke-width="{1 if level else 1.5}"/>'
        )
        parts.append(_text(left - 6, y + 4, f"{level} %", anchor="end", size=SMALL))
    line: list[str] = []
    for i, (_, _, share) in enumerate(points):
        if share is None:
            if len(line) > 1:
                parts.append(f'<polyline points="{" ".join(line)}" fill="none" stroke="{INK}" stroke-width="2"/>')
            line = []
            continue
        line.append(f"{_n(x_of(i))},{_n(y_of(share))}")
    if len(line) > 1:
        parts.append(f'<polyline points="{" ".join(line)}" fill="none" stroke="{INK}" stroke-width="2"/>')
    every = max(1, math.ceil(count * 76 / (inner_right - inner_left)))  # date labels at least ~76 px apart
    for i, (_, date, share) in enumerate(points):
        x = x_of(i)
        if share is not None:
            parts.append(
                f'<circle cx="{_n(x)}" cy="{_n(y_of(share))}" r="4" fill="#fff" stroke="{INK}" stroke-width="2"/>'
            )
            parts.append(_text(x, y_of(share) - 8, percent(share), anchor="middle", size=SMALL))
        if i % every == 0 or (i == count - 1 and (count - 1) % every >= every / 2):
            parts.append(_text(x, base + 16, date, anchor="middle", size=SMALL))
    desc = (
        "Mean score per session: "
        + "; ".join(f"{date} ({name}): {percent(share)}" for name, date, share in points)
        + "."
    )
    caption = _table(["Session", "Date", "Mean score"], [[name, date, percent(share)] for name, date, share in points])
    return _figure(cid, base + 26, title, desc, "".join(parts), caption)
