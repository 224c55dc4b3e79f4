"""Fixtures, and the guard against hangs. What they run and talk through is in tests/helpers.py.

- `tiny_pool`: pools/tiny.json (three questions; tests rely on its answers).
- `server`: the whole server in-process (`running_server`), in the test's trio nursery.

A hang must fail, not eat CI's time: every await in the helpers has a deadline, each
test has a time limit (pytest-timeout, `timeout` in pyproject.toml; faulthandler prints
every thread's stack before it), and a trio test still running after TASK_DUMP_AFTER_S
prints its whole task tree, so the task that is stuck, and where, is in the log.
"""
from __future__ import annotations

import inspect
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, settings

# Hypothesis's per-example deadline is a timing assertion: on a loaded CI machine it flakes.
# Hangs are caught by pytest-timeout; tests that guard against slow (quadratic) input set
# their own generous deadline.
settings.register_profile("quizctl", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("quizctl")

from server.quiz.pool import Pool, load_pool
from server.serve import RunningServer
from tests.helpers import POOLS, running_server

TASK_DUMP_AFTER_S = 120.0


# ---------------------------------------------------------------- hangs print their stacks


def print_trio_tasks(file: Any = None) -> None:
    """Every task of the running trio loop, with the line each is waiting at."""
    out = file or sys.__stderr__

    def walk(task: trio.lowlevel.Task, depth: int) -> None:
        print("  " * depth + f"task {task.name}", file=out)
        for frame, lineno in task.iter_await_frames():
            print("  " * depth + f"    {frame.f_code.co_filename}:{lineno} in {frame.f_code.co_name}", file=out)
        for nursery in task.child_nurseries:
            for child in nursery.child_tasks:
                walk(child, depth + 1)

    print(f"\n==== trio tasks still running after {TASK_DUMP_AFTER_S:g} s ====", file=out)
    walk(trio.lowlevel.current_root_task(), 0)
    out.flush()


class _TaskDumpWatchdog(trio.abc.Instrument):
    """Prints the task tree (from the loop itself) if the test runs past TASK_DUMP_AFTER_S."""

    def before_run(self) -> None:
        token = trio.lowlevel.current_trio_token()

        def dump() -> None:
            try:
                token.run_sync_soon(print_trio_tasks)
            except trio.RunFinishedError:
                pass

        self._timer = threading.Timer(TASK_DUMP_AFTER_S, dump)
        self._timer.daemon = True
        self._timer.start()

    def after_run(self) -> None:
        self._timer.cancel()


def _trio_run_with_watchdog(*args: Any, instruments: Any = (), **kwargs: Any) -> Any:
    return trio.run(*args, instruments=[*instruments, _TaskDumpWatchdog()], **kwargs)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # pytest-trio takes the trio runner from a `trio` marker; autouse async fixtures are
    # not run by pytest-trio 0.8 under pytest 9, so an instrument is the way in.
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            item.add_marker(pytest.mark.trio(run=_trio_run_with_watchdog))


@pytest.fixture
def tiny_pool() -> Pool:
    return load_pool(POOLS / "tiny.json")


@pytest.fixture
async def server(tmp_path: Path, tiny_pool: Pool) -> AsyncIterator[RunningServer]:
    async with running_server(tmp_path / "data", tiny_pool) as running:
        yield running
