"""Screenshots of the projector and the dashboard in every state, for the docs.

    python3 docs/screenshots/take.py [--out DIR] [--only NAME,...]

Starts `quizctl serve pools/demo.json` on a free port with a fresh data dir, joins a class
of scripted students (tests/classroom.py), and drives the session through the lobby, each
question type open and revealed, a pause, a skip, the leaderboard and the final results.
At every step it saves the projector at 1920x1080 and 1280x720 and the dashboard at
1280x800 as PNGs in docs/screenshots/ (`projector-1080-04-code-open.png`, ...).

The student page (390x844) has a hook: `shoot_students` below is called at every step
with the step's name; fill it in to add the phone's shots.

Chromium: /usr/bin/chromium, or the path in QUIZCTL_CHROMIUM.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.classroom import Classroom, admin
from tests.helpers import ServerProcess

OUT = Path(__file__).resolve().parent
POOL = REPO / "pools" / "demo.json"
CHROMIUM = os.environ.get("QUIZCTL_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
SCREENS = {
    "projector-1080": {"width": 1920, "height": 1080},
    "projector-720": {"width": 1280, "height": 720},
    "dashboard-1280x800": {"width": 1280, "height": 800},
}
STUDENT_VIEWPORT = {"width": 390, "height": 844}
CLASS = [
    ("s101", "Ada Lovelace"), ("s102", "Alan Turing"), ("s103", "Grace Hopper"), ("s104", "Edsger Dijkstra"),
    ("s105", "Barbara Liskov"), ("s106", "Donald Knuth"), ("s107", "Frances Allen"), ("s108", "Tony Hoare"),
    ("s109", "Margaret Hamilton"), ("s110", "Ken Thompson"), ("s111", "Radia Perlman"), ("s112", "Niklaus Wirth"),
]
WAIT_MS = 15_000
expect.set_options(timeout=WAIT_MS)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def shoot_students(step: str, classroom: Classroom, out: Path) -> None:
    """Hook for the student page's 390x844 shots (another page's owner fills it in).

    Called at every step after the projector and dashboard shots, with the step's name
    (`01-lobby`, `04-code-open`, ...). The scripted students are API clients, not pages: to
    shoot the student page, open `classroom.url + "/"` in a context with STUDENT_VIEWPORT,
    join there once (before the first question), and screenshot it here.
    """


class Run:
    """One server, its pages, and the class; `shot(step)` saves every screen."""

    def __init__(self, browser: Browser, server: ServerProcess, out: Path, only: set[str]) -> None:
        self.server = server
        self.out = out
        self.only = only
        self.classroom = Classroom(browser, server.url)
        self.pages: dict[str, Page] = {}
        for name, viewport in SCREENS.items():
            context = browser.new_context(viewport=viewport, reduced_motion="reduce")
            page = context.new_page()
            url = server.instructor_url if name.startswith("dashboard") else f"{server.url}/projector"
            page.goto(url)
            self.pages[name] = page
        self.taken: list[Path] = []

    def admin(self, command: str, **body: Any) -> dict[str, Any]:
        return admin(self.server.url, self.server.admin_token, command, **body)

    def projectors(self) -> list[Page]:
        return [page for name, page in self.pages.items() if name.startswith("projector")]

    @property
    def dashboard(self) -> Page:
        return self.pages["dashboard-1280x800"]

    def wait_all(self, check: Callable[[Page], None]) -> None:
        for page in self.projectors():
            check(page)

    def shot(self, step: str) -> None:
        if self.only and step not in self.only:
            return
        for name, page in self.pages.items():
            page.wait_for_timeout(150)  # the coalesced views go out every 0.2 s at most
            path = self.out / f"{name}-{step}.png"
            page.screenshot(path=str(path))
            self.taken.append(path)
        shoot_students(step, self.classroom, self.out)

    def open_question(self, number: int, time_limit: int = 120) -> int:
        """Open question `number` (1-based, as people count) and wait for every screen to show it."""
        self.admin("open", question_idx=number - 1, time_limit=time_limit)
        heading = f"Question {number} of 10"
        self.wait_all(lambda page: expect(page.locator("#pj-q-num")).to_have_text(heading, timeout=WAIT_MS))
        expect(self.dashboard.locator("#st-question")).to_contain_text(f"{number} of 10", timeout=WAIT_MS)
        return number - 1

    def answers(self, idx: int, given: list[Any]) -> None:
        """The first len(given) students answer, in class order (None: that student does not answer)."""
        for (student_id, _), answer in zip(CLASS, given):
            if answer is not None:
                self.classroom.answer(student_id, idx, answer)

    def close(self, step: str) -> None:
        self.admin("close")
        self.wait_all(lambda page: expect(page.locator("#pj-question")).to_have_attribute("data-phase", "reveal"))
        self.shot(step)


def drive(run: Run) -> None:
    expect(run.pages["projector-1080"].get_by_role("heading", name="Join the quiz")).to_be_visible(timeout=WAIT_MS)
    for student_id, name in CLASS:
        run.classroom.join(student_id, name)
    run.wait_all(lambda page: expect(page.locator("#pj-count-num")).to_have_text(str(len(CLASS)), timeout=WAIT_MS))
    run.shot("01-lobby")

    idx = run.open_question(1)
    run.shot("02-single-open")
    run.answers(idx, ["B", "B", "A", "B", "C", "B", "D", "B", "B", "A"])
    run.close("03-single-reveal")

    idx = run.open_question(2)
    run.answers(idx, ["C", "A", "C", "C"])
    run.shot("04-code-open")
    run.admin("pause")
    run.wait_all(lambda page: expect(page.locator("#pj-status")).to_have_text("Paused", timeout=WAIT_MS))
    run.shot("05-code-paused")
    run.admin("resume")
    run.answers(idx, [None, None, None, None, "C", "A", "C", "B", "C", "C", "A"])
    run.close("06-code-reveal")

    idx = run.open_question(3)
    run.shot("07-multiple-open")
    run.answers(idx, [["B", "D"], ["B"], ["B", "D"], ["A", "B", "D"], ["D"], ["B", "D"], ["C"], ["B", "D"], ["B", "C"]])
    run.close("08-multiple-reveal")

    idx = run.open_question(4)
    run.shot("09-true-false-open")
    run.answers(idx, [True, True, False, True, True, False, True, True, True, True, False])
    run.close("10-true-false-reveal")

    idx = run.open_question(5)
    run.answers(idx, [7, 7, 8, 6, 7, 7, 16, 7, 4])
    run.shot("11-numeric-open")
    run.close("12-numeric-reveal")

    idx = run.open_question(6)
    run.answers(idx, [21.8, 21.7, 22, 21.79, 20, 21.8, 22.5, 21.9, 25, 21.8])
    run.shot("13-math-open")
    run.close("14-math-reveal")

    idx = run.open_question(7)
    run.shot("15-text-open")
    run.answers(idx, ["bubble sort", "Bubble Sort", "bubblesort", "insertion sort", "bubble  sort", "cocktail sort",
                      "bubble sort", "sinking sort", "gnome sort", "bubble sort"])
    run.close("16-text-reveal")

    idx = run.open_question(8)
    run.answers(idx, ["B", "B", "A"])
    run.shot("17-image-open")
    run.admin("skip")
    run.wait_all(lambda page: expect(page.locator("#pj-question")).to_have_attribute("data-phase", "skipped"))
    run.shot("18-image-skipped")

    idx = run.open_question(9)
    run.answers(idx, ["A", "B", "B", "C", "B", "A", "D", "B"])
    run.shot("19-poll-live")
    run.close("20-poll-reveal")

    idx = run.open_question(10)
    run.answers(idx, ["recursive", "fast", "divide and conquer", "Fast", "recursive", "pivot", "elegant", "fast",
                      "unstable", "recursive", "fast", "risky"])
    run.shot("21-word-cloud-live")
    run.close("22-word-cloud-reveal")

    run.admin("leaderboard")
    run.wait_all(lambda page: expect(page.get_by_role("heading", name="Leaderboard")).to_be_visible(timeout=WAIT_MS))
    run.shot("23-leaderboard")

    run.admin("end")
    run.wait_all(lambda page: expect(page.get_by_role("heading", name="Final results")).to_be_visible(timeout=WAIT_MS))
    run.shot("24-final")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where the PNGs go (default: docs/screenshots/)")
    parser.add_argument("--only", default="", help="comma-separated steps to save (default: all)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    only = {step for step in args.only.split(",") if step}
    with tempfile.TemporaryDirectory(prefix="quizctl-shots-") as data_dir:
        server = ServerProcess(POOL, Path(data_dir), port=free_port())
        server.start_blocking()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
                try:
                    run = Run(browser, server, args.out, only)
                    drive(run)
                    run.classroom.close()
                finally:
                    browser.close()
        finally:
            server.ensure_stopped()
    for path in run.taken:
        print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
