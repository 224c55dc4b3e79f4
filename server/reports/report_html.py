"""The after-class report as ONE self-contained HTML file: inline CSS, inline SVG, no script, no request.

`render_report(stats, title=...)` takes a `SessionStats` (one session) or a `CourseStats` (a course
overview, then every session in full). The page asks for nothing: a Content-Security-Policy of
`default-src 'none'` forbids every fetch, and nothing in it points elsewhere (system fonts only,
charts drawn inline, links only to anchors in the same file). It reads on a screen and prints on
A4 or Letter (the page size is left to the printer; margins fit both).

Pictures: a question's own picture and its options' are given apart from the statistics
(`images`, from `server.reports.collect`) and written in as `data:` URIs, the only images the
policy allows; one that could not be found is shown as its alt text.

Escaping: the question text is HTML sanitized upstream and is inserted as such (it carries code
and MathML); everything else that came from people (names, student ids, answers, option texts,
titles) is escaped here or in `charts`, never passed through as markup.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from server.reports.charts import (
    distribution_chart,
    esc,
    histogram_chart,
    safe_id,
    score_chart,
    shorten,
    time_chart,
    time_sentence,
    trend_chart,
)
from server.reports.measures import format_number, percent
from server.reports.report_style import CSP, STYLE
from server.reports.statistics import (
    CourseStats,
    QuestionStats,
    SessionStats,
    StudentStats,
    utc_date,
)

KIND_NAMES = {
    "single": "single choice",
    "multiple": "multiple response",
    "true_false": "true or false",
    "numeric": "numeric",
    "text": "short text",
    "poll": "poll (not scored)",
}
ATTENDANCE_COLUMNS_MAX = 8  # more sessions than this do not fit across A4 as one column each
# The types a pool image may have (server.quiz.content.images); anything else is not inlined.
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
INSTRUCTOR_ONLY = (
    "Instructor only: this report names students and shows their scores and tab-switch signals. "
    "Do not show it on the projector or share it with students."
)


@dataclass(frozen=True, slots=True)
class InlineImage:
    """A picture of a question (its own, or an option's), written into the file as a `data:` URI.

    The report fetches nothing, so a picture is either inside the file or not shown: with `data`
    None (the picture could not be found when the report was made), its alt text stands in.
    """

    alt: str
    content_type: str | None = None
    data: bytes | None = None
    label: str = ""  # "" for the question's own picture; "Option B" for an option's


# Session id -> question index -> that question's pictures, in the order shown.
QuestionImages = Mapping[str, Mapping[int, Sequence[InlineImage]]]


def render_report(stats: SessionStats | CourseStats, *, title: str, images: QuestionImages | None = None) -> str:
    """The whole report as an HTML document (a str to write as UTF-8); `images` go under their questions' text."""
    pictures = images or {}
    if isinstance(stats, CourseStats):
        sessions = stats.sessions
        body = _course(stats) + "".join(
            _session(s, f"s{i + 1}-", in_course=True, images=pictures.get(s.sid, {})) for i, s in enumerate(sessions)
        )
        contents = [("course", "Course overview")] + [
            (f"s{i + 1}-session", f"{utc_date(s.started_ms)} \u00b7 {s.title}") for i, s in enumerate(sessions)
        ]
    else:
        body = _session(stats, "", in_course=False, images=pictures.get(stats.sid, {}))
        contents = [("summary", "Summary"), ("questions", "Questions"), ("students", "Students")]
    nav = "".join(f'<li><a href="#{safe_id(anchor)}">{esc(label)}</a></li>' for anchor, label in contents)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f'<header class="top"><h1>{esc(title)}</h1>'
        f'<p class="instructor" role="note"><strong>{esc(INSTRUCTOR_ONLY)}</strong></p>'
        f'<nav aria-label="Contents"><ol>{nav}</ol></nav></header>'
        f"<main>{body}</main></body></html>\n"
    )


# ---------------------------------------------------------------- one session


def _session(stats: SessionStats, prefix: str, *, in_course: bool, images: Mapping[int, Sequence[InlineImage]]) -> str:
    when = utc_date(stats.started_ms)
    heading = (
        f'<h2 class="session-title" id="{prefix}session">{esc(stats.title)} '
        f'<span class="muted">\u00b7 {esc(when)} \u00b7 session {esc(stats.sid)}</span></h2>'
        if in_course
        else f'<p class="muted" id="{prefix}session">Session {esc(stats.sid)}, {esc(when)} (UTC)</p>'
    )
    return (
        f'<section class="session" aria-label="{esc(stats.title)}">{heading}'
        f"{_summary(stats, prefix)}{_questions(stats, prefix, images)}{_students(stats, prefix)}</section>"
    )


def _summary(stats: SessionStats, prefix: str) -> str:
    summary = stats.summary
    cards = [
        ("Participants", str(summary.participants)),
        ("Mean score", _score_text(summary.mean_score, summary.mean_share)),
        ("Median score", _score_text(summary.median_score, summary.median_share)),
        ("Questions", f"{summary.questions} ({summary.scored_questions} scored)"),
        ("Need help", str(summary.needs_help)),
    ]
    dl = "".join(f'<div class="card"><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>' for k, v in cards)
    by_index = {q.index: q for q in stats.questions}
    hardest = "".join(
        f'<li><a href="#{prefix}q{by_index[i].number}">Question {by_index[i].number}</a>: '
        f"{esc(shorten(by_index[i].text_plain, 90))} "
        f'<span class="muted">(facility {esc(percent(by_index[i].facility))})</span></li>'
        for i in summary.hardest
    )
    hardest_block = f"<h4>Hardest questions</h4><ol>{hardest}</ol>" if hardest else ""
    chart = ""
    if summary.participants and summary.possible > 0:
        chart = score_chart(f"{prefix}scores", summary.score_bins, title="Score distribution (share of the possible)")
    return (
        f'<section class="summary" id="{prefix}summary"><h3>Summary</h3><dl class="cards">{dl}</dl>'
        f"{hardest_block}{chart}</section>"
    )


def _score_text(score: float | None, share: float | None) -> str:
    if score is None:
        return "\u2014"
    return f"{format_number(round(score, 2))} ({percent(share)})" if share is not None else format_number(score)


# ---------------------------------------------------------------- questions


def _questions(stats: SessionStats, prefix: str, images: Mapping[int, Sequence[InlineImage]]) -> str:
    articles = "".join(_question(q, prefix, images.get(q.index, ())) for q in stats.questions)
    return f'<section class="questions" id="{prefix}questions"><h3>Questions</h3>{articles}</section>'


def _question(q: QuestionStats, prefix: str, images: Sequence[InlineImage]) -> str:
    qid = f"{prefix}q{q.number}"
    flags = "".join(
        f'<p class="flag" data-flag="{esc(flag.code)}">'
        f"<strong>\u26a0 {esc(flag.title)}.</strong> {esc(flag.detail)}</p>"
        for flag in q.flags
    )
    figures = _question_figures(q)
    chart_title = f"Question {q.number}: answers"
    if q.distribution.shape == "histogram":
        answers = histogram_chart(
            f"{qid}-answers",
            q.distribution.bars,
            q.distribution.right_range,
            title=chart_title,
            participants=q.participants,
        )
    elif q.distribution.bars:
        answers = distribution_chart(
            f"{qid}-answers", q.distribution.bars, title=chart_title, participants=q.participants
        )
    else:
        answers = ""
    times = (
        time_chart(f"{qid}-times", q.response_time, q.time_limit_s, title=f"Question {q.number}: response times")
        if q.response_time.count
        else f'<p class="muted">{esc(time_sentence(q.response_time, q.time_limit_s))}</p>'
    )
    kind = KIND_NAMES.get(q.kind, q.kind)
    unscored = "" if q.scored or q.kind == "poll" else " \u00b7 not scored"
    return (
        f'<article class="question" id="{qid}" aria-labelledby="{qid}-h">'
        f'<h4 id="{qid}-h">Question {q.number} <span class="muted">\u00b7 {esc(kind)}{unscored}</span></h4>'
        f'<div class="qtext">{q.text_html}{"".join(_image(image) for image in images)}</div>'
        f"{_options(q)}{flags}{figures}{answers}{times}</article>"
    )


def _image(image: InlineImage) -> str:
    """The picture inlined (the report's CSP allows `img-src data:` only), or its alt text when it is missing."""
    label = f"<br><small>{esc(image.label)}</small>" if image.label else ""
    if image.data is None or image.content_type not in IMAGE_TYPES:
        what = f"{image.label}: " if image.label else ""
        return f'<p class="qimage missing muted">[Picture not included — {esc(what)}{esc(image.alt)}]</p>'
    uri = f"data:{image.content_type};base64,{base64.b64encode(image.data).decode('ascii')}"
    return f'<p class="qimage"><img src="{uri}" alt="{esc(image.alt)}">{label}</p>'


def _options(q: QuestionStats) -> str:
    if not q.options or q.kind == "true_false":
        return ""
    items = "".join(f"<li><b>{esc(key)}</b> {esc(text)}</li>" for key, text in q.options.items())
    return f'<ul class="options">{items}</ul>'


def _question_figures(q: QuestionStats) -> str:
    rows: list[tuple[str, str, str]] = [("Answered", f"{q.answered} of {q.participants}", "")]
    if q.scored:
        rows += [
            ("Right", f"{q.right} ({percent(q.right_share)})", ""),
            ("Facility index", percent(q.facility), "mean score (Moodle)"),
            ("Discrimination index", _index(q.discrimination_index), "r with the rest of the test (Moodle)"),
            (
                "Upper\u2013lower D",
                _index(q.upper_lower_d),
                f"top vs bottom third, {q.group_size} each" if q.group_size else "too few students",
            ),
        ]
        if q.random_guess is not None:
            rows.append(("Chance score", percent(q.random_guess), "blind guessing"))
    rows.append(("Response time", _time_words(q), "median (middle half)"))
    cells = "".join(
        f'<div class="fig"><dt>{esc(name)}</dt><dd>{esc(value)}'
        + (f"<small>{esc(note)}</small>" if note else "")
        + "</dd></div>"
        for name, value, note in rows
    )
    return f'<dl class="figures">{cells}</dl>'


def _index(value: float | None) -> str:
    return "\u2014" if value is None else format_number(round(value, 2))


def _time_words(q: QuestionStats) -> str:
    spread = q.response_time
    if not spread.count or spread.median is None or spread.q1 is None or spread.q3 is None:
        return "\u2014"
    return (
        f"{format_number(round(spread.median / 1000, 1))} s "
        f"({format_number(round(spread.q1 / 1000, 1))}\u2013{format_number(round(spread.q3 / 1000, 1))} s)"
    )


# ---------------------------------------------------------------- students


STUDENT_COLUMNS = (
    "Name",
    "Student id",
    "Score",
    "Answered",
    "Right",
    "Rank",
    "Left the page",
    "Duplicate joins",
    "Needs help",
)


def _students(stats: SessionStats, prefix: str) -> str:
    helped = [s for s in stats.students if s.needs_help]
    short_list = "".join(
        f'<li><b>{esc(s.name)}</b> <span class="muted">{esc(s.student_id)}</span>: {esc("; ".join(s.reasons))}</li>'
        for s in helped[:10]
    )
    more = f"<li>and {len(helped) - 10} more (see the table)</li>" if len(helped) > 10 else ""
    help_block = (
        f'<div class="needs-help"><h4>Needs help ({len(helped)})</h4><ul>{short_list}{more}</ul></div>'
        if helped
        else "<p>Nobody is flagged as needing help.</p>"
    )
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in STUDENT_COLUMNS)
    body = "".join(_student_row(s) for s in stats.students)
    return (
        f'<section class="students" id="{prefix}students"><h3>Students '
        f'<span class="badge">instructor only</span></h3>'
        f'<p class="muted">Those who need help come first (lowest score on top), then everyone else by rank. '
        f"\u201cLeft the page\u201d: how often the quiz lost focus / was hidden (another app or tab); "
        f"\u201cduplicate joins\u201d are refused second joins under the same identity.</p>{help_block}"
        f'<div class="table-wrap"><table class="student-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div></section>"
    )


def _student_row(s: StudentStats) -> str:
    cells: Sequence[str] = (
        s.name,
        s.student_id,
        _score_text(s.score, s.score_share),
        str(s.answered),
        str(s.right),
        str(s.rank),
        f"{s.blur_count} / {s.hidden_count}",
        str(s.duplicate_join_attempts),
        ("Yes: " + "; ".join(s.reasons)) if s.needs_help else "",
    )
    row_class = ' class="help"' if s.needs_help else ""
    first, *rest = cells
    return f'<tr{row_class}><th scope="row">{esc(first)}</th>' + "".join(f"<td>{esc(c)}</td>" for c in rest) + "</tr>"


# ---------------------------------------------------------------- the course


def _course(course: CourseStats) -> str:
    points = [(row.title, row.date, row.mean_share) for row in course.rows]
    trend = trend_chart("course-trend", points, title="Mean score per session") if points else ""
    session_rows = "".join(
        f'<tr><td>{esc(row.date)}</td><th scope="row"><a href="#s{i + 1}-session">{esc(row.title)}</a></th>'
        f"<td>{row.participants}</td><td>{esc(_score_text(row.mean_score, row.mean_share))}</td>"
        f"<td>{_hardest_cell(row.hardest_index, row.hardest_text, row.hardest_facility, f's{i + 1}-')}</td></tr>"
        for i, row in enumerate(course.rows)
    )
    sessions_table = (
        '<table class="course-table"><thead><tr><th scope="col">Date</th><th scope="col">Session</th>'
        '<th scope="col">Participants</th><th scope="col">Mean score</th><th scope="col">Hardest question</th>'
        f"</tr></thead><tbody>{session_rows}</tbody></table>"
    )
    return (
        f'<section class="course" id="course"><h2>Course overview</h2>{trend}'
        f"<h3>Sessions</h3>{sessions_table}"
        f'<h3>Attendance <span class="badge">instructor only</span></h3>{_attendance(course)}</section>'
    )


def _attendance(course: CourseStats) -> str:
    """One column per session while they fit on paper; past that, one column listing the absences."""
    grid = len(course.rows) <= ATTENDANCE_COLUMNS_MAX
    dates = [row.date for row in course.rows]
    if grid:
        heads = "".join(f'<th scope="col" title="{esc(row.title)}">{esc(row.date)}</th>' for row in course.rows)
    else:
        heads = '<th scope="col">Absent on</th>'
    rows = []
    for a in course.attendance:
        if grid:
            cells = "".join(
                '<td class="present">\u2713 present</td>' if here else '<td class="absent">absent</td>'
                for here in a.attended
            )
        else:
            missed = [date for date, here in zip(dates, a.attended, strict=True) if not here]
            cells = f'<td class="absent">{esc(", ".join(missed))}</td>'
        rows.append(
            f'<tr><th scope="row">{esc(a.name)}</th><td>{esc(a.student_id)}</td>{cells}'
            f"<td>{a.sessions_attended} of {len(a.attended)}</td><td>{esc(percent(a.mean_share))}</td></tr>"
        )
    return (
        '<div class="table-wrap"><table class="attendance"><thead><tr><th scope="col">Name</th>'
        f'<th scope="col">Student id</th>{heads}<th scope="col">Attended</th>'
        f'<th scope="col">Mean score</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
    )


def _hardest_cell(index: int | None, text: str | None, facility: float | None, prefix: str) -> str:
    if index is None:
        return "\u2014"
    return (
        f'<a href="#{prefix}q{index + 1}">Q{index + 1}</a> {esc(shorten(text or "", 70))} '
        f'<span class="muted">({esc(percent(facility))})</span>'
    )
