"""The student's phone page in Chromium against the real server: every question type.

For each type a student answers by mouse and another by keyboard alone; each sees an ack
that names the answer and nothing else, keeps the answer over a reload, and sees the
type's reveal. Then: a roster join that asks only for the ID, extra time, pause, resume,
extend and skip as the student sees them; question content that tries to be markup stays
text; a long code line on a 390 px phone; and an axe-core audit of every state.

The server runs as a subprocess (tests/test_browser.py's BrowserServer); elements are found
by role, label and visible text. axe-core comes from npm, installed by `.ci/run` into
.ci/node (see AXE below); without it the audits fail with the install command.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.chromium import chromium
from tests.helpers import POOLS, REPO
from tests.test_browser import (
    PHONE,
    BrowserServer,
    Pages,
    free_port,
    join,
    no_horizontal_overflow,
)

AXE = Path(os.environ.get("QUIZCTL_AXE", REPO / ".ci" / "node" / "node_modules" / "axe-core" / "axe.min.js"))
AXE_INSTALL = 'npm install --no-save --prefix "$PWD/.ci/node" axe-core@4'
DOC_SCREENSHOTS = REPO / "docs" / "screenshots"
PHONE_WIDTH = PHONE["viewport"]["width"]
WAIT_MS = 10_000
# Text that would be markup (or a script) if the page ever interpreted question content.
HOSTILE = [
    "<script>alert('script')</script>",
    "<img src=x onerror=alert('img')>",
    "[click me](javascript:alert('link'))",
    '<a href="javascript:alert(1)">raw link</a>',
    "<b onclick=alert('b')>raw bold</b> <iframe src=javascript:alert(2)></iframe>",
]
LONG_CODE_LINE = "total = " + " + ".join(f"measurement_{i}" for i in range(30))
FIGURE_ALT = "Bar chart of the array 1, 4, 2, 5, 8; the last bar is highlighted."

expect.set_options(timeout=WAIT_MS)


def every_type_pool() -> dict[str, Any]:
    """One question of each type (and both polls), with code, math and images."""
    return {
        "title": "Week 5: every question type",
        "session_id": "phone",
        "time_limit_default": 120,
        "score_fn": "speed_linear",
        "questions": [
            {
                "text": f"Which line is the longest?\n\n```python\n{LONG_CODE_LINE}\nx = 1\n```\n\nHint: $n^2$ is not.",
                "image": "figures/bubble-pass.png",
                "image_alt": FIGURE_ALT,
                "options": {
                    "A": "`x = 1`",
                    "B": "$n^2$",
                    "C": "The long one",
                    "D": "None",
                    "E": "Both",
                    "F": "```\nprint('neither')\n```",
                },
                "correct": "C",
                "explanation": "The **long** one: `total`.",
            },
            {
                "type": "multiple",
                "text": "Which numbers are even?",
                "options": {"A": "2", "B": "3", "C": "4"},
                "correct": ["A", "C"],
                "points": 2,
                "explanation": "2 and 4.",
            },
            {"type": "true_false", "text": "The sky is green.", "correct": False, "explanation": "It is blue."},
            {"type": "numeric", "text": "Pi to two decimals?", "correct": 3.14, "tolerance": 0.01, "unit": "rad"},
            {"type": "text", "text": "Which sort bubbles?", "accept": ["bubble sort", "bubblesort"]},
            {
                "type": "poll",
                "text": "How was the lecture?",
                "options": {
                    "A": {"text": "Good", "image": "figures/bubble-pass.png", "image_alt": "A happy bar chart"},
                    "B": "Meh",
                },
            },
            {"type": "poll", "open": True, "text": "One word for today:"},
        ],
    }


def hostile_pool() -> dict[str, Any]:
    return {
        "title": "<script>alert('title')</script>",
        "session_id": "hostile",
        "time_limit_default": 120,
        "questions": [
            {
                "text": "\n\n".join(HOSTILE),
                "options": {"A": HOSTILE[0], "B": HOSTILE[1], "C": HOSTILE[2]},
                "correct": "A",
                "explanation": HOSTILE[3] + " " + HOSTILE[4],
            }
        ],
    }


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def pages(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Pages]:
    opened = Pages(browser, "student-" + request.node.name.removeprefix("test_"))
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], BrowserServer]]:
    """Start the real server on a pool written from a dict (with the demo figure beside it)."""
    started: list[BrowserServer] = []

    def start(pool: dict[str, Any]) -> BrowserServer:
        folder = tmp_path / f"pool{len(started)}"
        (folder / "figures").mkdir(parents=True)
        shutil.copy(POOLS / "figures" / "bubble-pass.png", folder / "figures" / "bubble-pass.png")
        path = folder / "pool.json"
        path.write_text(json.dumps(pool), encoding="utf-8")
        server = BrowserServer(path, tmp_path / f"data{len(started)}", port=free_port())
        started.append(server)
        return server.start_blocking()

    try:
        yield start
    finally:
        for server in started:
            server.ensure_stopped()


# ---------------------------------------------------------------- helpers


def audit(page: Page, state: str) -> None:
    """axe-core on the page as it is: no serious or critical finding."""
    if not AXE.exists():
        pytest.fail(f"axe-core not found at {AXE}: install it with `{AXE_INSTALL}` (.ci/run does this)", pytrace=False)
    if not page.evaluate("typeof window.axe === 'object'"):
        # Not add_script_tag: that inserts an inline <script>, which the page's CSP rightly blocks.
        # Playwright's evaluate runs the file through the DevTools protocol, past the CSP.
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, { resultTypes: ["violations"] });
            return r.violations.map((v) => ({ id: v.id, impact: v.impact,
                nodes: v.nodes.map((n) => n.target.join(" ") + ": " + n.failureSummary).slice(0, 3) }));
        }"""
    )
    serious = [v for v in result if v["impact"] in ("serious", "critical")]
    assert serious == [], f"axe in state {state!r}: {json.dumps(serious, indent=1)}"


def doc_shot(page: Page, name: str) -> None:
    """A screenshot for docs/screenshots (the phone's viewport, 390x844)."""
    DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOC_SCREENSHOTS / f"student-{name}.png"))


def tab_to(page: Page, target: Locator, limit: int = 40) -> None:
    """Press Tab until `target` has the focus, as a keyboard user would."""
    for _ in range(limit):
        if target.evaluate("node => node === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {target}")


def option(page: Page, key: str) -> Locator:
    return page.get_by_role("button", name=re.compile(rf"^Option {key}:"))


def checkbox(page: Page, key: str) -> Locator:
    return page.get_by_role("checkbox", name=re.compile(rf"^Option {key}:"))


def status(page: Page) -> Locator:
    return page.locator("#question-status")


def expect_ack(page: Page, text: str) -> None:
    """The ack names the answer and says nothing about points or correctness."""
    expect(status(page)).to_have_text(text)
    said = status(page).inner_text()
    assert not re.search(r"point|correct|right|wrong|✓|✗", said, re.IGNORECASE), said
    assert page.locator("#view-reveal").is_hidden()


def focus_is_not_on_the_result(page: Page) -> None:
    """After a keyboard answer the reveal appears without a focus ring on its heading (or anywhere)."""
    focused = page.evaluate(
        """() => {
            const node = document.activeElement;
            const style = getComputedStyle(node);
            const ring = node.matches(":focus-visible") && style.outlineStyle !== "none";
            return { id: node.id, tag: node.tagName, ring };
        }"""
    )
    assert focused["id"] != "reveal-h" and not focused["ring"], focused


def one_line(page: Page, selector: str) -> None:
    """The element's text is drawn on a single line (no awkward wrap at 390 px)."""
    lines = page.evaluate(
        """(selector) => {
            const range = document.createRange();
            range.selectNodeContents(document.querySelector(selector));
            const tops = new Set(Array.from(range.getClientRects(), (r) => Math.round(r.top)));
            return tops.size;
        }""",
        selector,
    )
    assert lines == 1, f"{selector} wraps onto {lines} lines"


def seconds_shown(page: Page) -> int:
    """The countdown as shown ("42" or "1:05"), in seconds."""
    minutes, _, seconds = page.locator("#timer-text").inner_text().rpartition(":")
    return int(minutes or 0) * 60 + int(seconds)


def question_heading(page: Page, text: str) -> Locator:
    return page.get_by_role("heading", name=re.compile(re.escape(text)))


# ---------------------------------------------------------------- every type, mouse and keyboard


def test_every_type_by_mouse_and_keyboard_with_acks_reloads_reveals_and_audits(
    serve: Callable[[dict[str, Any]], BrowserServer], pages: Pages
) -> None:
    server = serve(every_type_pool())
    mouse = pages.open("mouse", f"{server.url}/", **PHONE)
    keys = pages.open("keys", f"{server.url}/", reduced_motion="reduce", **PHONE)
    # The quiz's own title before joining (not "Quiz"), and the form asks for a name without a roster.
    expect(mouse.locator("#quiz-title")).to_have_text("Week 5: every question type")
    expect(mouse).to_have_title("Week 5: every question type · Quiz")
    expect(mouse.get_by_label("Your name")).to_be_visible()
    audit(mouse, "join")
    doc_shot(mouse, "join")
    join(mouse, "m1", "Mia Mouse")
    join(keys, "k1", "Kai Keys")
    expect(mouse.locator("#lobby-who")).to_have_text("Joined as Mia Mouse (m1).")
    audit(mouse, "lobby")

    # ---- single choice: code that scrolls inside its box, math, an image, six options
    server.admin("open", question_idx=0, time_limit=120)
    for page in (mouse, keys):
        expect(question_heading(page, "Which line is the longest?")).to_be_visible()
        expect(page.locator("#answers button.answer")).to_have_count(6)
    expect(mouse.get_by_role("img", name=FIGURE_ALT)).to_be_visible()
    expect(mouse.locator("#question-text pre.code")).to_contain_text(LONG_CODE_LINE)
    expect(mouse.locator("#question-text math")).to_have_count(1)
    expect(option(mouse, "B").locator("math")).to_have_count(1)
    expect(mouse.get_by_role("group", name=re.compile("Which line is the longest"))).to_be_visible()
    code = mouse.locator("#question-text pre.code")
    assert code.evaluate("pre => pre.scrollWidth > pre.clientWidth"), "the long line should scroll inside its block"
    expect(code).to_have_attribute("tabindex", "0")  # so a keyboard can scroll it
    expect(option(mouse, "F").locator("pre.code")).not_to_have_attribute("tabindex", "0")  # not inside a button
    no_horizontal_overflow(mouse, PHONE_WIDTH)
    audit(mouse, "single choice")
    doc_shot(mouse, "question-single")
    option(mouse, "C").click()
    tab_to(keys, option(keys, "B"))
    keys.keyboard.press("Enter")
    expect_ack(mouse, "Answer C received.")
    expect_ack(keys, "Answer B received.")
    expect(option(mouse, "C")).to_have_attribute("aria-pressed", "true")
    audit(mouse, "ack")
    doc_shot(mouse, "ack")
    mouse.reload()
    expect(option(mouse, "C")).to_have_attribute("aria-pressed", "true")
    expect(option(mouse, "C")).to_contain_text("Your answer")
    expect(status(mouse)).to_have_text("Answer C received.")
    server.admin("close")
    expect(mouse.locator("#reveal-h")).to_have_text("Correct!")
    expect(keys.locator("#reveal-h")).to_have_text("Not quite")
    expect(mouse.locator("#reveal-correct")).to_have_text("C: The long one")
    expect(keys.locator("#reveal-yours")).to_contain_text("B:")
    expect(mouse.locator("#reveal-explanation strong")).to_have_text("long")
    expect(mouse.get_by_role("listitem", name=re.compile(r"^C ?: 1 \(50%\), correct answer"))).to_be_visible()
    expect(keys.locator("#reveal-points")).to_have_text("+0 points")
    focus_is_not_on_the_result(keys)
    # The bars of the class's answers move only for those who do not ask for reduced motion.
    motion = "parseFloat(getComputedStyle(document.querySelector('#reveal-results .bar-fill')).transitionDuration)"
    assert keys.evaluate(motion) < 0.001 < mouse.evaluate(motion)
    one_line(mouse, "#reveal-correct-label")
    one_line(mouse, "#reveal-points")
    no_horizontal_overflow(mouse, PHONE_WIDTH)
    audit(mouse, "reveal single")
    doc_shot(mouse, "reveal")

    # ---- multiple answers: checkboxes and Submit; a partly right answer
    server.admin("open", question_idx=1, time_limit=120)
    expect(question_heading(mouse, "Which numbers are even?")).to_be_visible()
    expect(mouse.get_by_role("group", name=re.compile("Which numbers are even"))).to_be_visible()
    audit(mouse, "multiple")
    mouse.get_by_role("button", name="Submit").click()
    expect(mouse.locator("#answer-error")).to_have_text("Choose at least one answer.")
    checkbox(mouse, "A").check()
    checkbox(mouse, "C").check()
    doc_shot(mouse, "question-multiple")
    mouse.get_by_role("button", name="Submit").click()
    tab_to(keys, checkbox(keys, "A"))
    keys.keyboard.press("Space")
    tab_to(keys, keys.get_by_role("button", name="Submit"))
    keys.keyboard.press("Enter")
    expect_ack(mouse, "Answers A, C received.")
    expect_ack(keys, "Answer A received.")
    mouse.reload()
    expect(checkbox(mouse, "A")).to_be_checked()
    expect(checkbox(mouse, "C")).to_be_checked()
    expect(checkbox(mouse, "B")).not_to_be_checked()
    expect(status(mouse)).to_have_text("Answers A, C received.")
    server.admin("close")
    expect(mouse.locator("#reveal-h")).to_have_text("Correct!")
    expect(keys.locator("#reveal-h")).to_have_text("Partly right")
    expect(mouse.locator("#reveal-correct-label")).to_have_text("Correct answers")
    expect(mouse.locator("#reveal-correct li")).to_have_text(["A: 2", "C: 4"])
    expect(keys.locator("#reveal-yours li")).to_have_text(["A: 2"])
    expect(keys.locator("#reveal-score")).to_have_text(re.compile(r"^50% of 2 points$"))
    focus_is_not_on_the_result(keys)
    audit(keys, "reveal multiple")

    # ---- true / false: two large buttons
    server.admin("open", question_idx=2, time_limit=120)
    expect(question_heading(mouse, "The sky is green.")).to_be_visible()
    for name in ("True", "False"):
        box = mouse.get_by_role("button", name=name, exact=True).bounding_box()
        assert box is not None and box["height"] >= 80, box
    audit(mouse, "true/false")
    doc_shot(mouse, "question-true-false")
    mouse.get_by_role("button", name="False", exact=True).click()
    tab_to(keys, keys.get_by_role("button", name="True", exact=True))
    keys.keyboard.press("Space")
    expect_ack(mouse, "Answer “False” received.")
    expect_ack(keys, "Answer “True” received.")
    mouse.reload()
    expect(mouse.get_by_role("button", name=re.compile("^False"))).to_have_attribute("aria-pressed", "true")
    server.admin("close")
    expect(mouse.locator("#reveal-h")).to_have_text("Correct!")
    expect(keys.locator("#reveal-h")).to_have_text("Not quite")
    expect(keys.locator("#reveal-correct")).to_have_text("False")
    expect(keys.locator("#reveal-yours")).to_have_text("True")
    focus_is_not_on_the_result(keys)
    audit(keys, "reveal true/false")

    # ---- numeric: a decimal keypad, the unit beside it, a decimal comma, non-numbers refused here
    server.admin("open", question_idx=3, time_limit=120)
    field = mouse.get_by_label("Your answer", exact=True)
    expect(field).to_have_attribute("inputmode", "decimal")
    expect(mouse.locator("#answer-unit")).to_have_text("rad")
    one_line(mouse, "#answer-unit")
    audit(mouse, "numeric")
    field.fill("three")
    mouse.get_by_role("button", name="Submit").click()
    expect(mouse.locator("#answer-error")).to_have_text("Enter a number, like 3.14.")
    expect(field).to_have_attribute("aria-invalid", "true")
    audit(mouse, "numeric refused")
    field.fill("3.14")
    doc_shot(mouse, "question-numeric")
    mouse.get_by_role("button", name="Submit").click()
    tab_to(keys, keys.get_by_label("Your answer", exact=True))
    keys.keyboard.type("3,15")
    keys.keyboard.press("Enter")
    expect_ack(mouse, "Answer “3.14” received.")
    expect_ack(keys, "Answer “3.15” received.")
    keys.reload()
    expect(keys.get_by_label("Your answer", exact=True)).to_have_value("3.15")
    expect(status(keys)).to_have_text("Answer “3.15” received.")
    server.admin("close")
    for page in (mouse, keys):
        expect(page.locator("#reveal-h")).to_have_text("Correct!")
        expect(page.locator("#reveal-correct")).to_have_text("3.14 ± 0.01 rad")
    expect(keys.locator("#reveal-yours")).to_have_text("3.15 rad")
    audit(mouse, "reveal numeric")

    # ---- text
    server.admin("open", question_idx=4, time_limit=120)
    field = mouse.get_by_label("Your answer", exact=True)
    expect(field).to_have_attribute("maxlength", "100")
    audit(mouse, "text")
    mouse.get_by_role("button", name="Submit").click()
    expect(mouse.locator("#answer-error")).to_have_text("Type an answer first.")
    field.fill("  Bubble   Sort ")
    doc_shot(mouse, "question-text")
    mouse.get_by_role("button", name="Submit").click()
    tab_to(keys, keys.get_by_label("Your answer", exact=True))
    keys.keyboard.type("quicksort")
    keys.keyboard.press("Enter")
    expect_ack(mouse, "Answer “Bubble   Sort” received.")
    expect_ack(keys, "Answer “quicksort” received.")
    mouse.reload()
    expect(mouse.get_by_label("Your answer", exact=True)).to_have_value("Bubble   Sort")
    server.admin("close")
    expect(mouse.locator("#reveal-h")).to_have_text("Correct!")
    expect(keys.locator("#reveal-h")).to_have_text("Not quite")
    expect(keys.locator("#reveal-correct-label")).to_have_text("Accepted answers")
    expect(keys.locator("#reveal-correct li")).to_have_text(["bubble sort", "bubblesort"])
    expect(keys.locator("#reveal-results li")).to_have_count(2)
    focus_is_not_on_the_result(keys)
    audit(keys, "reveal text")

    # ---- poll over options (one with an image): no points, "Thanks for voting" and the results
    server.admin("open", question_idx=5, time_limit=120)
    expect(mouse.locator("#answer-legend")).to_have_text("Choose one option.")
    expect(option(mouse, "A").get_by_role("img", name="A happy bar chart")).to_be_visible()
    audit(mouse, "poll")
    option(mouse, "A").click()
    keys.keyboard.press("b")  # the letter keys answer a choice
    expect_ack(mouse, "Answer A received.")
    expect_ack(keys, "Answer B received.")
    server.admin("close")
    expect(mouse.locator("#reveal-h")).to_have_text("Thanks for voting!")
    expect(mouse.locator("#reveal-points")).to_be_hidden()
    expect(mouse.locator("#reveal-correct-row")).to_be_hidden()
    expect(mouse.get_by_role("listitem", name=re.compile(r"^A: 1 \(50%\), your answer"))).to_be_visible()
    audit(mouse, "reveal poll")
    doc_shot(mouse, "reveal-poll")

    # ---- open poll: free text, the top answers
    server.admin("open", question_idx=6, time_limit=120)
    expect(mouse.get_by_label("Your answer", exact=True)).to_be_visible()
    mouse.get_by_label("Your answer", exact=True).fill("fun")
    mouse.get_by_role("button", name="Submit").click()
    tab_to(keys, keys.get_by_label("Your answer", exact=True))
    keys.keyboard.type("Fun")
    keys.keyboard.press("Enter")
    expect_ack(mouse, "Answer “fun” received.")
    server.admin("close")
    expect(keys.locator("#reveal-h")).to_have_text("Thanks for voting!")
    expect(keys.locator("#reveal-results-h")).to_have_text("Top answers")
    expect(keys.locator("#reveal-results li")).to_have_text([re.compile(r"^fun\s*2$")])
    audit(keys, "reveal open poll")

    # ---- the final screen: figures on one line each at 390 px
    server.admin("end")
    expect(mouse.locator("#ended-h")).to_have_text("Quiz finished")
    expect(mouse.locator("#ended-total")).to_have_text(re.compile(r"points?$"))
    for selector in ("#ended-total", "#ended-answered", "[data-i18n='ended.answered']", "#ended-rank"):
        one_line(mouse, selector)
    no_horizontal_overflow(mouse, PHONE_WIDTH)
    audit(mouse, "final")
    doc_shot(mouse, "final")
    assert pages.dialogs == []
    assert pages.page_errors == []
    assert pages.csp_errors() == []


# ---------------------------------------------------------------- roster, extra time, pause, extend, skip


def test_roster_join_extra_time_pause_resume_extend_and_skip(
    serve: Callable[[dict[str, Any]], BrowserServer], pages: Pages
) -> None:
    server = serve(every_type_pool())
    server.admin("roster-add", student_id="s2025001", name="Amara Okafor")
    server.admin("roster-add", student_id="s2025003", name="Mei Chen", extra_time=2)
    amara = pages.open("amara", f"{server.url}/", **PHONE)
    mei = pages.open("mei", f"{server.url}/", **PHONE)

    # With a class list only the ID is asked for; an ID not on it is refused, translated by its code.
    expect(amara.get_by_label("Student ID")).to_be_visible()
    expect(amara.get_by_label("Your name")).to_be_hidden()
    expect(amara.get_by_text("Your name comes from the class list.")).to_be_visible()
    audit(amara, "roster join")
    amara.get_by_label("Student ID").fill("s9999999")
    amara.get_by_role("button", name="Join").click()
    expect(amara.locator("#student-id-error")).to_have_text(
        "This student ID is not on the class list. Check it, or ask the instructor."
    )
    doc_shot(amara, "roster-refused")
    amara.get_by_label("Student ID").fill("s2025001")
    amara.get_by_role("button", name="Join").click()
    expect(amara.locator("#lobby-who")).to_have_text("Joined as Amara Okafor (s2025001).")
    expect(amara.locator("#who")).to_contain_text("Amara Okafor")
    doc_shot(amara, "roster-joined")
    mei.get_by_label("Student ID").fill("s2025003")
    mei.get_by_role("button", name="Join").click()
    expect(mei.locator("#lobby-who")).to_have_text("Joined as Mei Chen (s2025003).")

    # Extra time: Mei's countdown is her own, twice as long.
    server.admin("open", question_idx=0, time_limit=30)
    expect(mei.locator("#extra-time-note")).to_have_text("Your extra time: 60 seconds for this question.")
    expect(amara.locator("#extra-time-note")).to_be_hidden()
    mei_left, amara_left = seconds_shown(mei), seconds_shown(amara)
    assert 50 <= mei_left <= 60 and amara_left <= 30, (mei_left, amara_left)
    expect(mei.get_by_role("timer")).to_have_attribute("aria-live", "off")
    doc_shot(mei, "extra-time")

    # Pause: the countdown stops, "Paused" shows, and nothing can be submitted.
    server.admin("pause")
    for page in (amara, mei):
        expect(page.get_by_text("Paused", exact=True)).to_be_visible()
        expect(option(page, "A")).to_have_attribute("aria-disabled", "true")
    frozen = amara.locator("#timer-text").inner_text()
    amara.wait_for_timeout(1500)
    assert amara.locator("#timer-text").inner_text() == frozen, "the countdown went on while paused"
    option(amara, "A").click(force=True)  # a tap on the greyed-out button: nothing is sent
    amara.keyboard.press("b")
    expect(option(amara, "A")).to_have_attribute("aria-pressed", "false")
    expect(option(amara, "B")).to_have_attribute("aria-pressed", "false")
    expect(status(amara)).not_to_contain_text("received")
    audit(amara, "paused")
    doc_shot(amara, "paused")
    amara.reload()  # a page opened during the pause shows it too
    expect(amara.get_by_text("Paused", exact=True)).to_be_visible()
    expect(amara.locator("#timer-text")).to_have_text(frozen)

    # Resume: the countdown goes on from where it stopped; answers are taken again.
    server.admin("resume")
    expect(amara.locator("#paused-banner")).to_be_hidden()
    expect(amara.locator("#timer-text")).not_to_have_text(frozen, timeout=3000)
    option(amara, "C").click()
    expect_ack(amara, "Answer C received.")

    # Extend: the new limit shows at once.
    before = seconds_shown(mei)
    server.admin("extend", seconds=60)
    expect(mei.locator("#extra-time-note")).to_have_text("Your extra time: 180 seconds for this question.")
    expect(mei.locator("#timer-text")).to_have_text(re.compile(r"^[12]:\d\d$"))
    assert seconds_shown(mei) > before + 100, (seconds_shown(mei), before)
    server.admin("close")
    expect(amara.locator("#reveal-h")).to_have_text("Correct!")

    # A screen reader hears the countdown at its marks (here 10 s), through a polite region of its own.
    server.admin("open", question_idx=1, time_limit=12)
    expect(question_heading(amara, "Which numbers are even?")).to_be_visible()
    timer_region = amara.locator("#timer-announcer")
    expect(timer_region).to_have_attribute("aria-live", "polite")
    expect(timer_region).to_have_text("", timeout=500)
    expect(timer_region).to_have_text("10 seconds left.", timeout=5000)

    # Skip: the question ends for everyone without a reveal.
    server.admin("skip")
    for page in (amara, mei):
        expect(page.get_by_role("heading", name="This question was skipped")).to_be_visible()
        expect(page.locator("#view-question")).to_be_hidden()
    audit(mei, "skipped")
    doc_shot(mei, "skipped")
    mei.reload()
    expect(mei.get_by_role("heading", name="This question was skipped")).to_be_visible()
    assert pages.page_errors == []
    assert pages.csp_errors() == []


# ---------------------------------------------------------------- content that tries to be markup


def test_question_content_that_looks_like_markup_stays_inert(
    serve: Callable[[dict[str, Any]], BrowserServer], pages: Pages
) -> None:
    server = serve(hostile_pool())
    student = pages.open("student", f"{server.url}/", **PHONE)
    expect(student.locator("#quiz-title")).to_have_text("<script>alert('title')</script>")
    join(student, "h1", "Hedy")
    server.admin("open", question_idx=0, time_limit=60)
    expect(student.locator("#question-text")).to_contain_text("<script>alert('script')</script>")
    expect(student.locator("#question-text")).to_contain_text("<img src=x onerror=alert('img')>")
    expect(option(student, "B")).to_contain_text("<img src=x onerror=alert('img')>")
    option(student, "A").click()
    expect_ack(student, "Answer A received.")
    server.admin("close")
    expect(student.locator("#reveal-explanation")).to_contain_text('<a href="javascript:alert(1)">raw link</a>')
    student.wait_for_timeout(300)  # time for an image error handler to have fired, were there one
    main = student.locator("#main")
    for selector in ("script", "img[onerror]", "img[src='x']", "iframe", "a", "[onclick]", "b", "[href^='javascript']"):
        assert main.locator(selector).count() == 0, selector

    # What the server sent never even tried to run: the browser reported nothing to the CSP.
    assert pages.dialogs == []
    assert pages.page_errors == []
    assert pages.csp_errors() == []

    # The page's own second line: markup the server would never send is made inert all the same.
    # (Chromium reports an inline handler or style to the CSP as soon as it parses one, even in
    # DOMParser's script-less document, so CSP reports are expected here; nothing may run.)
    leftover = student.evaluate(
        """async () => {
            const { setRenderedHtml } = await import("/static/common.js");
            const box = document.createElement("div");
            document.body.append(box);
            setRenderedHtml(box, '<p onclick="alert(1)" style="color:red">ok <a href="javascript:alert(2)">link</a></p>'
                + '<img src=x onerror="alert(3)"><script>alert(4)</script>'
                + '<iframe srcdoc="<script>alert(5)</script>"></iframe>'
                + '<math><mi href="javascript:alert(6)">x</mi></math><svg onload="alert(7)"></svg>');
            await new Promise((done) => setTimeout(done, 300));
            const describe = (n) => n.localName + [...n.attributes].map((a) => " " + a.name).join("");
            const found = Array.from(box.querySelectorAll("*"), describe);
            const text = box.textContent;
            box.remove();
            return { found, text };
        }"""
    )
    assert leftover["found"] == ["p", "math", "mi"], leftover
    assert leftover["text"] == "ok linkx", leftover
    assert pages.dialogs == []
    assert pages.page_errors == []
