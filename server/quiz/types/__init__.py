"""The question types, by the name a pool file gives in `"type"` (see base.py for what a type does)."""

from __future__ import annotations

from server.quiz.types.base import Question
from server.quiz.types.choice import MultipleChoice, Poll, SingleChoice
from server.quiz.types.numeric import Numeric
from server.quiz.types.text import TextAnswer
from server.quiz.types.true_false import TrueFalse

QUESTION_TYPES: dict[str, type[Question]] = {
    cls.kind: cls for cls in (SingleChoice, MultipleChoice, TrueFalse, Numeric, TextAnswer, Poll)
}
DEFAULT_TYPE = "single"
