"""The web app object: one room's dependencies and the per-process limits its handlers share.

Handlers live in blueprint modules and reach what they need through `quiz_app()`, the
app serving the current request or websocket, instead of closing over it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from quart import current_app
from quart_trio import QuartTrio

from server.auth import Signer
from server.room.room import Room
from server.session.model import Participant
from server.throttle import FailureThrottle, RateLimiter

# A participant's page events (blur, focus, ...): each one saved is a database row.
EVENT_RATE_PER_S = 2.0
EVENT_BURST = 20.0


@dataclass(slots=True)
class WebLimits:
    """Per-process state that protects the server from one address or one participant."""

    token_failures: FailureThrottle = field(default_factory=lambda: FailureThrottle("instructor token"))
    connections_per_ip: dict[str, int] = field(default_factory=dict)
    # One bucket per participant (bounded by the class size).
    event_limiters: dict[str, RateLimiter] = field(default_factory=dict)

    def admit_connection(self, address: str, limit: int) -> bool:
        """Count a websocket from `address`, or refuse it (False) when `limit` (0: none) are already open."""
        open_now = self.connections_per_ip.get(address, 0)
        if limit and open_now >= limit:
            return False
        self.connections_per_ip[address] = open_now + 1
        return True

    def release_connection(self, address: str) -> None:
        """Forget one admitted websocket from `address`; an address with none open is dropped."""
        self.connections_per_ip[address] -= 1
        if not self.connections_per_ip[address]:
            del self.connections_per_ip[address]

    def event_limiter(self, student_id: str) -> RateLimiter:
        """The event bucket of one participant (refusals never drop anybody: strikes are unlimited)."""
        limiter = self.event_limiters.get(student_id)
        if limiter is None:
            limiter = RateLimiter(rate=EVENT_RATE_PER_S, burst=EVENT_BURST, strikes=10**9)
            self.event_limiters[student_id] = limiter
        return limiter


class QuizApp(QuartTrio):
    """The Quart-Trio app serving one room."""

    def __init__(self, import_name: str, room: Room, signer: Signer, admin_token: str) -> None:
        # Static files are served by the pages blueprint, not by the app itself.
        super().__init__(import_name, static_folder=None)
        self.room = room
        self.signer = signer
        self.admin_token = admin_token
        self.limits = WebLimits()
        self.media = room.pool.media()  # the pool's images by /media/ file name

    def student_of(self, cookie: str | None) -> Participant | None:
        """The participant a student cookie's value speaks for, checked against the room (stale, forged: None)."""
        identity = self.signer.read_student_cookie(cookie, self.room.clock.now_ms())
        if identity is None:
            return None
        return self.room.authenticate(identity.sid, identity.student_id, identity.cookie_id)


def quiz_app() -> QuizApp:
    """The app handling the current request or websocket."""
    app = current_app
    if not isinstance(app, QuizApp):
        raise TypeError("quizctl's handlers run only inside a QuizApp (see server.web.app.create_app)")
    return app
