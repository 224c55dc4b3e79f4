"""The message catalogs (static/locales/*.json) and their use by the pages, without a browser.

en.json is the source. Every other catalog has exactly its keys, with the same
placeholders, and plural messages with the forms its language needs; every key the HTML
and the JS use exists, and every key is used. The pseudo-locale en-XA is generated from
en.json by `pseudo_localize` below; after changing en.json, regenerate it with

    python -m tests.test_i18n
"""
from __future__ import annotations

import json
import math
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from server.web import pages

REPO = Path(__file__).resolve().parent.parent
STATIC = REPO / "static"
LOCALES = STATIC / "locales"
SOURCE = "en"
PSEUDO = "en-XA"
HTML_PAGES = ("student.html", "instructor.html", "projector.html")
JS_FILES = ("student.js", "instructor.js", "projector.js", "common.js", "i18n.js")

# Intl.PluralRules(lang).resolvedOptions().pluralCategories, as Chromium reports them.
# French and Spanish also have "many" (for exact millions: "1 000 000 de points"); a
# catalog may omit it, and then i18n.js uses "other".
PLURAL_REQUIRED = {
    "en": {"one", "other"},
    "de": {"one", "other"},
    "fr": {"one", "other"},
    "es": {"one", "other"},
    "zh": {"other"},
    "ar": {"zero", "one", "two", "few", "many", "other"},
    PSEUDO: {"one", "other"},
}
PLURAL_ALLOWED = {**PLURAL_REQUIRED, "fr": {"one", "many", "other"}, "es": {"one", "many", "other"}}
# Keys the pages build at run time from a server value: errors.<code>, state.<state>, conn.<status>.
DYNAMIC_PREFIXES = ("errors.", "state.", "conn.")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def load(language: str) -> dict[str, Any]:
    catalog = json.loads((LOCALES / f"{language}.json").read_text(encoding="utf-8"))
    assert isinstance(catalog, dict), language
    return catalog


def catalog_languages() -> list[str]:
    return sorted(path.stem for path in LOCALES.glob("*.json"))


def placeholders(message: Any) -> set[str]:
    if isinstance(message, dict):
        return set().union(*(placeholders(form) for form in message.values()))
    return set(PLACEHOLDER.findall(message))


# ---------------------------------------------------------------- the pseudo-locale

ACCENTED = dict(
    zip(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "àƀçðéƒĝĥîĵķļɱñöþǫŕšţûṽŵẋýžÅƁÇÐÉƑĜĤÎĴĶĻṀÑÖÞǪŔŠŢÛṼŴẊÝŽ",
        strict=True,
    )
)
VOWELS = set("aeiouAEIOU")


def pseudo_text(text: str) -> str:
    """Accented, about 40 % longer (vowels doubled, then padding), in brackets; placeholders kept."""
    pieces = PLACEHOLDER.split(text)
    out = []
    for i, piece in enumerate(pieces):
        if i % 2:  # a placeholder's name
            out.append("{" + piece + "}")
            continue
        out.append("".join(ACCENTED.get(ch, ch) * (2 if ch in VOWELS else 1) for ch in piece))
    body = "".join(out)
    target = math.ceil(len(text) * 1.4)
    padding = "~" * max(0, target - len(body) - 2)
    return f"[{body}{padding}]"


def pseudo_localize(source: dict[str, Any]) -> dict[str, Any]:
    """en.json as en-XA: every message (and every plural form) through pseudo_text."""
    result: dict[str, Any] = {}
    for key, message in source.items():
        if isinstance(message, dict):
            result[key] = {form: pseudo_text(text) for form, text in message.items()}
        else:
            result[key] = pseudo_text(message)
    return result


def pseudo_catalog_text() -> str:
    return json.dumps(pseudo_localize(load(SOURCE)), ensure_ascii=False, indent=2) + "\n"


# ---------------------------------------------------------------- the catalogs


def test_the_shipped_catalogs() -> None:
    assert catalog_languages() == sorted(["en", "de", "fr", "es", "zh", "ar", PSEUDO])
    assert pages.shipped_languages() == ("en", "ar", "de", "es", "fr", "zh")


@pytest.mark.parametrize("language", [lang for lang in PLURAL_REQUIRED if lang != SOURCE])
def test_every_catalog_has_every_key_and_no_other(language: str) -> None:
    source, catalog = load(SOURCE), load(language)
    assert sorted(set(source) - set(catalog)) == [], f"{language} lacks these keys"
    assert sorted(set(catalog) - set(source)) == [], f"{language} has keys en.json does not"


@pytest.mark.parametrize("language", list(PLURAL_REQUIRED))
def test_messages_keep_their_placeholders_and_plural_forms(language: str) -> None:
    source, catalog = load(SOURCE), load(language)
    problems = []
    for key, original in source.items():
        message = catalog.get(key)
        if message is None:
            continue
        wanted = placeholders(original)
        if isinstance(original, dict) != isinstance(message, dict):
            problems.append(f"{key}: plural in one catalog, not in the other")
            continue
        if not isinstance(message, dict):
            if not isinstance(message, str) or not message.strip():
                problems.append(f"{key}: empty or not text")
            elif placeholders(message) != wanted:
                problems.append(f"{key}: placeholders {sorted(placeholders(message))} != {sorted(wanted)}")
            continue
        forms = set(message)
        if not PLURAL_REQUIRED[language] <= forms <= PLURAL_ALLOWED[language]:
            needed = sorted(PLURAL_REQUIRED[language])
            problems.append(f"{key}: plural forms {sorted(forms)}, {language} needs {needed}")
        for form, text in message.items():
            # A form may leave out the number itself (Arabic says "نقطتان", "two points", without "2").
            have = placeholders(text)
            if not isinstance(text, str) or not text.strip():
                problems.append(f"{key}.{form}: empty")
            elif not have <= wanted or not wanted - {"count"} <= have:
                problems.append(f"{key}.{form}: placeholders {sorted(have)}, en.json has {sorted(wanted)}")
            elif form == "other" and have != wanted:
                problems.append(f"{key}.other must use every placeholder: {sorted(wanted)}")
    assert problems == []


def test_the_source_catalog_has_english_plurals_and_error_codes() -> None:
    source = load(SOURCE)
    for key, message in source.items():
        assert re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", key), key
        if isinstance(message, dict):
            assert set(message) == {"one", "other"}, key
            assert "count" in placeholders(message) or key == "pj.joined", key
    # The codes the student page translates (server/room/inputs.py, students.py, sockets.py).
    codes = ["bad_student_id", "bad_name", "duplicate_student_id", "not_on_roster", "storage_unavailable",
             "rate_limited", "bad_answer", "not_open", "time_expired", "bad_question", "bad_message", "not_joined"]
    assert [code for code in codes if f"errors.{code}" not in source] == []


def test_the_pseudo_locale_is_generated_from_english() -> None:
    assert (LOCALES / f"{PSEUDO}.json").read_text(encoding="utf-8") == pseudo_catalog_text(), (
        "en-XA.json is stale: run `python -m tests.test_i18n`"
    )
    pseudo, source = load(PSEUDO), load(SOURCE)
    for key in ("join.title", "question.ack", "presence.col_dup"):
        assert len(pseudo[key]) >= 1.4 * len(source[key]), key
        assert pseudo[key].startswith("[") and pseudo[key].endswith("]")
    assert pseudo["question.ack"] == "[ÅÅñšŵééŕ {answer} ŕééçééîîṽééð.~~]"


def test_the_builtin_messages_match_english() -> None:
    """i18n.js keeps a few messages for when no catalog can be fetched: they must say what en.json says."""
    script = (STATIC / "i18n.js").read_text(encoding="utf-8")
    block = re.search(r"const BUILTIN = \{(.*?)\};", script, re.DOTALL)
    assert block is not None
    builtin = dict(re.findall(r'"([\w.]+)": "([^"]*)"', block.group(1)))
    assert builtin, "no built-in messages found"
    source = load(SOURCE)
    assert {key: source.get(key) for key in builtin} == builtin


# ---------------------------------------------------------------- the pages use the catalogs


class MarkupScan(HTMLParser):
    """Every data-i18n key, every text outside a marked element, every attribute left untranslated."""

    TRANSLATABLE_ATTRS = ("aria-label", "title", "placeholder", "alt")
    VOID = frozenset({"meta", "link", "img", "input", "br", "hr", "source"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[tuple[str, str]] = []  # (data-i18n key, the English text the element holds)
        self.attr_keys: list[tuple[str, str, str | None]] = []  # (attribute, key, its English value if given)
        self.stack: list[tuple[str, str | None, list[str]]] = []  # (tag, data-i18n key, its text so far)
        self.loose_text: list[str] = []
        self.loose_attrs: list[str] = []

    @property
    def keys(self) -> set[str]:
        return {key for key, _ in self.texts}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        mapped = {}
        for pair in (values.get("data-i18n-attr") or "").split(";"):
            if ":" in pair:
                name, attr_key = (part.strip() for part in pair.split(":", 1))
                mapped[name] = attr_key
                self.attr_keys.append((name, attr_key, values.get(name)))
        for name in self.TRANSLATABLE_ATTRS:
            if values.get(name) and name not in mapped:
                self.loose_attrs.append(f"<{tag} {name}={values[name]!r}>")
        if tag not in self.VOID:
            self.stack.append((tag, values.get("data-i18n"), []))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            closed, key, text = self.stack.pop()
            if key:
                self.texts.append((key, " ".join(text)))
            if closed == tag:
                break

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if not text:
            return
        marked = [entry for entry in self.stack if entry[1]]
        if marked:
            marked[-1][2].append(text)
        elif "noscript" not in [tag for tag, _, _ in self.stack] and re.search(r"[A-Za-z]{2}", text):
            self.loose_text.append(text)


def scan(page: str) -> MarkupScan:
    parser = MarkupScan()
    parser.feed((STATIC / page).read_text(encoding="utf-8"))
    return parser


@pytest.mark.parametrize("page", HTML_PAGES)
def test_every_text_in_the_html_comes_from_the_catalog(page: str) -> None:
    source = load(SOURCE)
    found = scan(page)
    assert found.loose_text == [], "text without data-i18n"
    assert found.loose_attrs == [], "attributes without data-i18n-attr"
    assert sorted(key for key in found.keys if key not in source) == []
    assert sorted(key for _, key, _ in found.attr_keys if key not in source) == []
    # What the page says before (and without) its script is the English message itself.
    differing = [(key, text, source[key]) for key, text in found.texts if text and text != source[key]]
    assert differing == []
    assert [(attr, key) for attr, key, text in found.attr_keys if text is not None and text != source[key]] == []


JS_STRING = re.compile(r'"([a-z0-9_]+(?:\.[a-z0-9_]+)+)"')


def js_sources() -> str:
    return "\n".join((STATIC / name).read_text(encoding="utf-8") for name in JS_FILES)


def test_every_key_the_scripts_use_exists() -> None:
    source = load(SOURCE)
    script = js_sources()
    namespaces = {key.split(".")[0] for key in source}
    literals = {key for key in JS_STRING.findall(script) if key.split(".")[0] in namespaces}
    assert {"question.ack", "join.notice_reset", "pj.correct_mark"} <= literals  # the scan itself works
    assert sorted(literals - set(source)) == []


def test_every_key_is_used() -> None:
    used = set(JS_STRING.findall(js_sources()))
    for page in HTML_PAGES:
        found = scan(page)
        used |= set(found.keys) | {key for _, key, _ in found.attr_keys}
    unused = [key for key in load(SOURCE) if key not in used and not key.startswith(DYNAMIC_PREFIXES)]
    assert unused == []


def test_the_scripts_show_no_english_literals() -> None:
    """A sentence or a capitalised word in quotes in the pages' JS is a message that skipped the catalog."""
    offenders = []
    for name in ("student.js", "instructor.js", "projector.js", "common.js"):
        for number, line in enumerate((STATIC / name).read_text(encoding="utf-8").splitlines(), start=1):
            stripped = line.strip()
            code = "" if stripped.startswith(("*", "/*", "//")) else line.split(" // ")[0]
            for literal in re.findall(r'"([^"]*)"|`([^`]*)`', code):
                text = literal[0] or literal[1]
                if re.search(r"\b[A-Z][a-z]+ [a-z]+|\b[a-z]+ [a-z]+[.…!?]", text) and "console" not in code:
                    offenders.append(f"{name}:{number}: {text}")
    assert offenders == []


# ---------------------------------------------------------------- the server's choice


def test_the_server_matches_accept_language_to_a_catalog() -> None:
    shipped = pages.shipped_languages()
    assert pages.match_language(["de-CH", "en"], shipped) == "de"
    assert pages.match_language(["zh-CN"], shipped) == "zh"
    assert pages.match_language(["zh-Hans-SG"], shipped) == "zh"
    assert pages.match_language(["pt-BR", "fr;q=0.5"], shipped) is None  # q-values are parsed before this
    assert pages.match_language(["pt-BR", "fr"], shipped) == "fr"
    assert pages.match_language(["ar-EG"], shipped) == "ar"
    assert pages.match_language(["en-XA"], shipped) == "en"  # the pseudo-locale is never negotiated
    assert pages.match_language(["*", "es_MX"], shipped) == "es"
    assert pages.match_language([], shipped) is None


def test_the_configured_language_comes_from_the_settings() -> None:
    assert pages.configured_language(SimpleNamespace(language="de")) == "de"
    assert pages.configured_language(SimpleNamespace(language="fr-CA")) == "fr"
    assert pages.configured_language(SimpleNamespace(language="xx")) == "en"
    assert pages.configured_language(SimpleNamespace(language=None)) == "en"
    assert pages.configured_language(SimpleNamespace()) == "en"  # settings without the attribute yet


def test_a_page_is_served_with_its_language() -> None:
    text = (STATIC / "student.html").read_text(encoding="utf-8")
    arabic = pages.localize_page(text, "ar")
    assert '<html lang="ar" dir="rtl">' in arabic
    assert '<meta charset="utf-8">\n  <meta name="quiz-language" content="ar">' in arabic
    chinese = pages.localize_page(text, "zh")
    assert '<html lang="zh-Hans" dir="ltr">' in chinese and 'content="zh"' in chinese
    assert chinese.count("<html") == 1 and chinese.count("quiz-language") == 1


def main() -> None:
    """Regenerate static/locales/en-XA.json from en.json."""
    (LOCALES / f"{PSEUDO}.json").write_text(pseudo_catalog_text(), encoding="utf-8")
    print(f"wrote {LOCALES / PSEUDO}.json", file=sys.stderr)


if __name__ == "__main__":
    main()
