import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.quiz.scoring import SCORE_FUNCTIONS, points_for, points_to_score

LIMIT_MS = 30_000


def test_score_functions_are_the_contract_names() -> None:
    assert SCORE_FUNCTIONS == ("binary", "speed_linear")


@pytest.mark.parametrize(
    ("elapsed_ms", "points"),
    [(0, 20), (LIMIT_MS // 2, 15), (LIMIT_MS, 10)],
)
def test_speed_linear_grid_at_start_half_and_full_time(elapsed_ms: int, points: int) -> None:
    assert points_for("speed_linear", True, elapsed_ms, LIMIT_MS) == points


def test_speed_linear_scores_are_one_three_quarters_and_half() -> None:
    scores = [points_to_score(points_for("speed_linear", True, ms, LIMIT_MS)) for ms in (0, 15_000, 30_000)]
    assert scores == [1.0, 0.75, 0.5]


def test_speed_linear_clamps_elapsed_outside_the_window() -> None:
    assert points_for("speed_linear", True, LIMIT_MS + 5_000, LIMIT_MS) == 10
    assert points_for("speed_linear", True, -250, LIMIT_MS) == 20


def test_speed_linear_half_grid_step_rounds_up() -> None:
    # 10 * 1500/30000 = 0.5 points lost: exactly half a grid step, kept.
    assert points_for("speed_linear", True, 1_500, LIMIT_MS) == 20
    assert points_for("speed_linear", True, 1_501, LIMIT_MS) == 19
    assert points_for("speed_linear", True, 4_499, LIMIT_MS) == 19
    assert points_for("speed_linear", True, 4_500, LIMIT_MS) == 19
    assert points_for("speed_linear", True, 4_501, LIMIT_MS) == 18


@pytest.mark.parametrize("score_fn", SCORE_FUNCTIONS)
def test_wrong_answer_scores_zero(score_fn: str) -> None:
    assert points_for(score_fn, False, 0, LIMIT_MS) == 0
    assert points_for(score_fn, False, LIMIT_MS, LIMIT_MS) == 0


def test_binary_ignores_time() -> None:
    assert points_for("binary", True, 0, LIMIT_MS) == 20
    assert points_for("binary", True, LIMIT_MS * 3, LIMIT_MS) == 20


def test_unknown_score_function_is_rejected() -> None:
    with pytest.raises(ValueError, match="speedy"):
        points_for("speedy", True, 0, LIMIT_MS)


def test_speed_linear_needs_a_positive_limit() -> None:
    with pytest.raises(ValueError):
        points_for("speed_linear", True, 0, 0)


def test_points_to_score_sits_on_the_grid() -> None:
    assert [points_to_score(points) for points in (0, 1, 7, 13, 20)] == [0.0, 0.05, 0.35, 0.65, 1.0]


@given(
    elapsed_ms=st.integers(min_value=-10_000, max_value=10_000_000),
    limit_ms=st.integers(min_value=5_000, max_value=3_600_000),
)
def test_speed_linear_matches_nearest_grid_point(elapsed_ms: int, limit_ms: int) -> None:
    points = points_for("speed_linear", True, elapsed_ms, limit_ms)
    clamped = min(max(elapsed_ms, 0), limit_ms)
    exact_points = 20 - 10 * clamped / limit_ms
    assert 10 <= points <= 20
    assert abs(points - exact_points) <= 0.5 + 1e-9
