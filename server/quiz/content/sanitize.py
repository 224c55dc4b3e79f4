"""The last line of defence: rendered HTML keeps exactly the elements, attributes and classes the renderer emits.

The renderer already escapes everything it does not emit itself (raw HTML is off, links and
images become text), so for well-behaved output `clean` changes nothing. It is here so that
a bug in the renderer, Pygments or latex2mathml cannot put a script, a link, an event
handler or a style on a student's phone.
"""

from __future__ import annotations

import nh3

from server.quiz.content.formulas import MATH_ATTRIBUTES
from server.quiz.content.highlight import LANGUAGE_CLASS_PREFIX, LANGUAGES, SPAN_CLASSES

CODE_BLOCK_CLASS = "code"
ALIGN_CLASSES = frozenset({"align-left", "align-center", "align-right"})

HTML_TAGS = frozenset(
    {
        "p",
        "br",
        "hr",
        "em",
        "strong",
        "s",
        "code",
        "pre",
        "span",
        "blockquote",
        "ul",
        "ol",
        "li",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
    }
)
ALLOWED_TAGS = HTML_TAGS | frozenset(MATH_ATTRIBUTES)
# `class` is not listed: ALLOWED_CLASSES restricts it to known values per element instead.
ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "ol": frozenset({"start"}),
    **{tag: attributes for tag, attributes in MATH_ATTRIBUTES.items() if attributes},
}
ALLOWED_CLASSES: dict[str, frozenset[str]] = {
    "pre": frozenset({CODE_BLOCK_CLASS}),
    "code": frozenset(LANGUAGE_CLASS_PREFIX + language for language in LANGUAGES),
    "span": SPAN_CLASSES,
    "th": ALIGN_CLASSES,
    "td": ALIGN_CLASSES,
}

# Built once: handing the allow-lists (nearly a thousand language classes) to nh3 on every
# call would cost more than the rest of rendering together.
_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    attributes={tag: set(attributes) for tag, attributes in ALLOWED_ATTRIBUTES.items()},
    allowed_classes={tag: set(classes) for tag, classes in ALLOWED_CLASSES.items()},
    link_rel=None,
    url_schemes=set(),
    strip_comments=True,
)


def clean(html: str) -> str:
    """`html` with every element, attribute and class outside the allow-lists removed (text kept)."""
    return _CLEANER.clean(html)
