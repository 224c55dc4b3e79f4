"""Per-question scoring, and the units totals are kept in.

A question scores 0 to 1 on a 0.05 grid (docs/protocol.md, "Scoring"). Scores are kept
as integer *points* in twentieths (0..20) so that totals stay exact; `points_to_score`
turns points back into the float the wire shows.

A question's gradebook score is its weight (the pool's `points`, at most two decimals)
times its 0-1 score. Weighted scores are kept as integer *units*: points × weight in
hundredths, so 2,000 units are one full-credit question of weight 1. With every weight 1
(the default) a total in units is exactly 100 × the sum of points.
"""

from __future__ import annotations

from fractions import Fraction

SCORE_FUNCTIONS: tuple[str, ...] = ("binary", "speed_linear")

MAX_POINTS = 20
WEIGHT_SCALE = 100
UNITS_PER_SCORE = MAX_POINTS * WEIGHT_SCALE


def points_for(score_fn: str, credit: Fraction | bool, elapsed_ms: int, time_limit_ms: int) -> int:
    """Points (0..20) earned by one answer with `credit` (0..1; True is full credit, False none).

    `binary`: the credit itself. `speed_linear`: the credit × (1 - 0.5 * elapsed/limit).
    Either is snapped to the nearest 0.05 (exact halves round up), so full credit earns
    20 points at once, 15 at half time and 10 at the buzzer; no credit earns nothing.
    """
    credit = Fraction(credit)
    if score_fn not in SCORE_FUNCTIONS:
        raise ValueError(f"unknown score function {score_fn!r}; expected one of {', '.join(SCORE_FUNCTIONS)}")
    if time_limit_ms <= 0:
        raise ValueError(f"time_limit_ms must be positive, got {time_limit_ms}")
    if credit <= 0:
        return 0
    factor = Fraction(1)
    if score_fn == "speed_linear":
        elapsed = min(max(elapsed_ms, 0), time_limit_ms)
        factor = 1 - Fraction(elapsed, 2 * time_limit_ms)
    # floor(20 * score + 1/2) in exact arithmetic: no float error ever moves a grid step.
    return int(MAX_POINTS * min(credit, Fraction(1)) * factor + Fraction(1, 2))


def points_to_score(points: int) -> float:
    return round(points / MAX_POINTS, 2)


def weight_units(weight: Fraction) -> int:
    """A question's weight in hundredths (weights have at most two decimals)."""
    return int(weight * WEIGHT_SCALE)


def units_to_score(units: int) -> float:
    """A weighted score or total, as the wire and the gradebook show it (two decimals)."""
    return round(units / UNITS_PER_SCORE, 2)
