"""Secrets, signed cookies and token checks.

Student cookies carry (sid, student_id, cookie_id, issued_ms), signed with HMAC-SHA256.
A valid signature is necessary but not sufficient: the room also checks that the
cookie_id still matches the participant row (see Room.authenticate), so a cookie
issued before `clear-student` or `reset` is dead even though its signature is good.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STUDENT_COOKIE = "quiz_student"
INSTRUCTOR_COOKIE = "quiz_instructor"
STUDENT_COOKIE_MAX_AGE_S = 12 * 3600
INSTRUCTOR_COOKIE_MAX_AGE_S = 12 * 3600


def load_or_create_secret_file(path: Path, env_value: str | None) -> str:
    """The environment wins; otherwise a random value generated once and kept, mode 0600."""
    if env_value:
        return env_value
    try:
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    value = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    os.chmod(path, 0o600)
    return value


def tokens_equal(given: str | None, expected: str) -> bool:
    if not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class StudentIdentity:
    sid: str
    student_id: str
    cookie_id: str
    issued_ms: int


class Signer:
    def __init__(self, secret_key: str) -> None:
        self._key = hashlib.sha256(("quizctl-cookie:" + secret_key).encode("utf-8")).digest()

    def _mac(self, body: bytes) -> str:
        digest = hmac.digest(self._key, body, "sha256")  # the one-shot C path
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def sign(self, payload: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(
            json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")
        ).rstrip(b"=")
        return body.decode("ascii") + "." + self._mac(body)

    def unsign(self, value: str | None) -> dict[str, Any] | None:
        if not value or not isinstance(value, str) or len(value) > 2048 or "." not in value:
            return None
        body_text, _, mac = value.rpartition(".")
        try:
            body = body_text.encode("ascii")
        except UnicodeEncodeError:
            return None
        if not hmac.compare_digest(mac.encode("ascii", "replace"), self._mac(body).encode("ascii")):
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
        except (ValueError, UnicodeDecodeError):
            return None
        return payload if isinstance(payload, dict) else None

    def student_cookie(self, identity: StudentIdentity) -> str:
        return self.sign(
            {
                "sid": identity.sid,
                "student_id": identity.student_id,
                "cookie_id": identity.cookie_id,
                "iat": identity.issued_ms,
            }
        )

    def read_student_cookie(self, value: str | None, now_ms: int) -> StudentIdentity | None:
        payload = self.unsign(value)
        if payload is None:
            return None
        fields = (payload.get("sid"), payload.get("student_id"), payload.get("cookie_id"))
        issued = payload.get("iat")
        if not all(isinstance(f, str) for f in fields) or not isinstance(issued, int):
            return None
        if now_ms - issued > STUDENT_COOKIE_MAX_AGE_S * 1000 or issued - now_ms > 60_000:
            return None
        return StudentIdentity(*fields, issued_ms=issued)  # type: ignore[arg-type]

    def instructor_cookie(self, admin_token: str, now_ms: int) -> str:
        return self.sign({"role": "instructor", "tok": self._mac(admin_token.encode()), "iat": now_ms})

    def instructor_cookie_valid(self, value: str | None, admin_token: str, now_ms: int) -> bool:
        payload = self.unsign(value)
        if payload is None or payload.get("role") != "instructor":
            return False
        issued = payload.get("iat")
        if not isinstance(issued, int) or now_ms - issued > INSTRUCTOR_COOKIE_MAX_AGE_S * 1000:
            return False
        return tokens_equal(payload.get("tok"), self._mac(admin_token.encode()))


def new_cookie_id() -> str:
    return secrets.token_urlsafe(16)
