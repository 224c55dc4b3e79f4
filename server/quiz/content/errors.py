"""The one error type of the content renderer, with a location inside the source text."""

from __future__ import annotations


class ContentError(ValueError):
    """Question content that cannot be rendered: what is wrong, where, and how to fix it.

    `line` and `column` are 1-based within the Markdown source of one field (the caller
    adds which question and field); `line` is None for image problems, which have no
    source text, and `column` is None when only the line is known.
    """

    def __init__(self, message: str, fix: str, *, line: int | None = None, column: int | None = None) -> None:
        self.message = message
        self.fix = fix
        self.line = line
        self.column = column
        super().__init__(self.describe())

    def describe(self) -> str:
        """The problem as "line L, column C: what is wrong (fix: how to fix it)"."""
        location = ""
        if self.line is not None:
            location = f"line {self.line}" + (f", column {self.column}" if self.column is not None else "") + ": "
        return f"{location}{self.message} (fix: {self.fix})"

    def __str__(self) -> str:
        return self.describe()
