"""Question content: Markdown with code and math to safe HTML, plain text, and pool images.

The pool loader renders every text once, at load, and keeps the HTML:

- `render(source, inline=False)` -> sanitized HTML fragment, or ContentError;
- `check(source)` -> every ContentError, for `quizctl validate`;
- `plain(source)` -> text without Markdown, formulas as LaTeX (CSV, terminal, labels);
- `load_image(pool_dir, relative, alt)` -> PoolImage, or ContentError.

Pages link /static/highlight.css for code blocks (`pre.code`), display formulas and table
alignment. Student names and free-text answers are never Markdown: they stay text.
"""

from server.quiz.content.errors import ContentError
from server.quiz.content.images import IMAGE_MAX_BYTES, PoolImage, load_image
from server.quiz.content.markdown import check, plain, render

__all__ = ["IMAGE_MAX_BYTES", "ContentError", "PoolImage", "check", "load_image", "plain", "render"]
