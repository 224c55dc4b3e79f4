"""The HTML pages, their static files and the health check.

Each page is served in a language: the student page in the best match for the browser's
Accept-Language among the shipped catalogs (static/locales/), the projector and dashboard
in the server's configured language. The page's `<html lang dir>` is set to it and a
`<meta name="quiz-language">` tells static/i18n.js which catalog to load.
"""

from __future__ import annotations

import functools
import gzip
import html
import re
from collections.abc import Iterable
from pathlib import Path

from quart import Blueprint, Response, jsonify, request

import server
from server.auth import INSTRUCTOR_COOKIE, INSTRUCTOR_COOKIE_MAX_AGE_S, tokens_equal
from server.web.quiz_app import quiz_app
from server.web.security import error_response, instructor_cookie_valid, refuse_instructor, set_cookie
from server.web.static_assets import IMMUTABLE, REVALIDATE, StaticAssets

INSTRUCTOR_TOKEN_REQUIRED_PAGE = (
    "<!doctype html><title>Instructor</title><h1>401: instructor token required</h1>"
    "<p>Open the instructor URL printed by <code>quizctl serve</code>.</p>"
)


@functools.cache
def static_dir() -> Path:
    """Installed: server/static (package data). From a checkout: the repository's static/."""
    package_dir = Path(server.__file__).resolve().parent
    for candidate in (package_dir / "static", package_dir.parent / "static"):
        if (candidate / "student.html").exists():
            return candidate
    raise FileNotFoundError("static files not found next to the server package")


DEFAULT_LANGUAGE = "en"
# Catalogs for testing layouts (static/locales/en-XA.json): chosen only by `?lang=`, never negotiated.
PSEUDO_LANGUAGES = frozenset({"en-XA"})
RIGHT_TO_LEFT = frozenset({"ar"})
# <html lang> where the catalog's name says less than BCP 47 can ("zh" is Simplified Chinese).
DOCUMENT_TAGS = {"zh": "zh-Hans"}
_HTML_TAG = re.compile(r"<html\b[^>]*>", re.IGNORECASE)
_CHARSET_META = re.compile(r"<meta charset=[^>]*>", re.IGNORECASE)


@functools.cache
def shipped_languages() -> tuple[str, ...]:
    """The catalogs a browser or the configuration can be matched to, English first."""
    found = sorted(path.stem for path in (static_dir() / "locales").glob("*.json"))
    others = [name for name in found if name != DEFAULT_LANGUAGE and name not in PSEUDO_LANGUAGES]
    return (DEFAULT_LANGUAGE, *others)


def match_language(preferences: Iterable[str], available: Iterable[str]) -> str | None:
    """The catalog for the first preference that has one: an exact match, or its primary language.

    "de-CH" gets "de" and "zh-CN" gets "zh"; the same rule as matchLanguage in static/i18n.js.
    """
    catalogs = list(available)
    by_lower = {name.lower(): name for name in catalogs}
    for preference in preferences:
        wanted = preference.strip().replace("_", "-").lower()
        if not wanted or wanted == "*":
            continue
        match = by_lower.get(wanted) or by_lower.get(wanted.split("-")[0])
        if match is not None:
            return match
    return None


def browser_language() -> str:
    """The best shipped catalog for the request's Accept-Language (English when none fits)."""
    wanted = [value for value, quality in request.accept_languages if quality > 0]
    return match_language(wanted, shipped_languages()) or DEFAULT_LANGUAGE


def configured_language(settings: object) -> str:
    """The server's language for the projector and dashboard: `settings.language` if set, matched to a catalog."""
    configured = getattr(settings, "language", None) or DEFAULT_LANGUAGE
    return match_language([str(configured)], shipped_languages()) or DEFAULT_LANGUAGE


def localize_page(text: str, language: str) -> str:
    """The page's HTML with `<html lang dir>` for `language` and the quiz-language meta tag."""
    tag = html.escape(DOCUMENT_TAGS.get(language, language), quote=True)
    direction = "rtl" if language in RIGHT_TO_LEFT else "ltr"
    text = _HTML_TAG.sub(f'<html lang="{tag}" dir="{direction}">', text, count=1)
    meta = f'<meta name="quiz-language" content="{html.escape(language, quote=True)}">'
    charset = _CHARSET_META.search(text)
    if charset is None:
        return text.replace("<head>", f"<head>\n  {meta}", 1)
    return f"{text[: charset.end()]}\n  {meta}{text[charset.end() :]}"


@functools.cache
def static_assets() -> StaticAssets:
    """The static files, read, hashed and compressed once per process."""
    return StaticAssets(static_dir())


async def page_response(name: str, language: str, *, varies_by_browser: bool = False) -> Response:
    """One of the HTML pages, served in `language` (it depends on the request, so never cached as is).

    Its scripts and styles are referenced by their content-hashed URLs (see static_assets.py).
    """
    body, compressed = localized_page(name, language)
    gzipped = request.accept_encodings.quality("gzip") > 0
    response = Response(compressed if gzipped else body, content_type="text/html; charset=utf-8")
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Content-Language"] = DOCUMENT_TAGS.get(language, language)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Vary"] = "Accept-Encoding, Accept-Language" if varies_by_browser else "Accept-Encoding"
    return response


@functools.lru_cache(maxsize=64)
def localized_page(name: str, language: str) -> tuple[bytes, bytes]:
    """A page in a language, as bytes and gzipped (made once per page and language)."""
    body = localize_page(static_assets().page(name), language).encode("utf-8")
    return body, gzip.compress(body, compresslevel=9, mtime=0)


pages = Blueprint("pages", __name__)


@pages.get("/")
async def student_page() -> Response:
    """The student's page, in the browser's language."""
    return await page_response("student.html", browser_language(), varies_by_browser=True)


@pages.get("/projector")
async def projector_page() -> Response:
    """The projector's page (public: it never shows who answered what), in the server's language."""
    return await page_response("projector.html", configured_language(quiz_app().room.settings))


@pages.get("/instructor")
async def instructor_page() -> Response:
    """The dashboard, for the instructor cookie or `?token=`; a valid token also sets the cookie."""
    app = quiz_app()
    token = request.args.get("token")
    cookie_ok = instructor_cookie_valid(request.cookies)
    if not cookie_ok and not tokens_equal(token, app.admin_token):
        await refuse_instructor(request.remote_addr or "?")
        return Response(INSTRUCTOR_TOKEN_REQUIRED_PAGE, status=401, content_type="text/html; charset=utf-8")
    response = await page_response("instructor.html", configured_language(app.room.settings))
    if token and not cookie_ok:
        cookie = app.signer.instructor_cookie(app.admin_token, app.room.clock.now_ms())
        set_cookie(response, INSTRUCTOR_COOKIE, cookie, INSTRUCTOR_COOKIE_MAX_AGE_S)
    return response


@pages.get("/static/<path:filename>")
async def static_file(filename: str) -> Response:
    """A script, style or catalog: at its hashed URL cached for good, at its plain URL revalidated by ETag.

    Only files read from the static folder at start are served: any other path (one that
    leaves the folder, say) is 404.
    """
    found = static_assets().find(filename)
    if found is None:
        return error_response("not_found", "No such file.", 404)
    asset, immutable = found
    headers = {"Cache-Control": IMMUTABLE if immutable else REVALIDATE, "ETag": asset.etag, "Vary": "Accept-Encoding"}
    if request.if_none_match.contains(asset.hashed):
        return Response(b"", status=304, headers=headers)
    body = asset.body
    if asset.gzipped is not None and request.accept_encodings.quality("gzip") > 0:
        body, headers["Content-Encoding"] = asset.gzipped, "gzip"
    return Response(body, content_type=asset.content_type, headers=headers)


MEDIA_MAX_AGE_S = 365 * 24 * 3600


@pages.get("/media/<name>")
async def media(name: str) -> Response:
    """A pool image at its content-hash URL: the same name is always the same bytes, so cache it for good."""
    image = quiz_app().media.get(name)
    if image is None:
        return error_response("not_found", "No such image.", 404)
    response = Response(image.data, content_type=image.content_type)
    response.headers["Cache-Control"] = f"public, max-age={MEDIA_MAX_AGE_S}, immutable"
    return response


@pages.get("/session")
async def session_info() -> Response:
    """What the join page shows before anyone joins: the quiz's title, whether ids are checked
    against a class list (then only the id is asked for), the state and the server's language."""
    room = quiz_app().room
    response = jsonify(
        {
            "title": room.pool.title,
            "sid": room.record.sid,
            "state": str(room.state),
            "roster": room.record.roster is not None,
            "language": configured_language(room.settings),
            "total_questions": len(room.pool.questions),
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@pages.get("/healthz")
async def healthz() -> Response:
    """Liveness for monitors: storage health, state and head counts, nothing personal."""
    status = quiz_app().room.status()
    return jsonify(
        {
            "ok": True,
            "storage_ok": status["storage_error"] is None,
            "state": status["state"],
            "participants": status["participants"],
            "connected": status["connected"],
        }
    )
