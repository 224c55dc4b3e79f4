"""Per-question scoring.

A question scores 0 to 1 on a 0.05 grid (PROTOCOL.md, "Pools"). Scores are
kept as integer *points* in twentieths (0..20) so that totals over many
questions stay exact; `points_to_score` turns points back into the float the
wire protocol shows.
"""

from __future__ import annotations

SCORE_FUNCTIONS: tuple[str, ...] = ("binary", "speed_linear")

MAX_POINTS = 20


def points_for(score_fn: str, correct: bool, elapsed_ms: int, time_limit_ms: int) -> int:
    """Points (0..20) earned by one answer.

    `binary`: 20 if correct, else 0. `speed_linear`: if correct,
    1 - 0.5 * elapsed/limit snapped to the nearest 0.05 (20 points at once,
    15 at half time, 10 at the buzzer), else 0.
    """
    if score_fn == "binary":
        return MAX_POINTS if correct else 0
    if score_fn == "speed_linear":
        return _speed_linear_points(correct, elapsed_ms, time_limit_ms)
    raise ValueError(f"unknown score function {score_fn!r}; expected one of {', '.join(SCORE_FUNCTIONS)}")


def points_to_score(points: int) -> float:
    return round(points / MAX_POINTS, 2)


def _speed_linear_points(correct: bool, elapsed_ms: int, time_limit_ms: int) -> int:
    if time_limit_ms <= 0:
        raise ValueError(f"time_limit_ms must be positive, got {time_limit_ms}")
    if not correct:
        return 0
    elapsed = min(max(elapsed_ms, 0), time_limit_ms)
    # points = floor(20 - 10 * elapsed/limit + 1/2), kept in integers so that
    # exact halves always round up and no float error moves a grid step.
    return (41 * time_limit_ms - 20 * elapsed) // (2 * time_limit_ms)
