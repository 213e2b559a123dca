"""Who may keep a conversation socket open: origin, session and per-user caps.

A websocket is authenticated once, when it opens. So that it does not outlive
its session, every socket joins two channel-layer groups: one of its session
and one of its user. Logging out closes the session's sockets; a password
change or a deactivated account makes every socket of the user check that its
session is still valid (on every worker, through the layer), and each frame
that asks for work is checked the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib import auth
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.http.request import is_same_domain, split_domain_port, validate_host
from django.utils.module_loading import import_string

from chatsite.proxy import proxy_trusted

logger = logging.getLogger("parley.sockets")

# Close codes in the application range, so that the page can tell why.
CLOSE_SESSION_ENDED = 4401
CLOSE_TOO_MANY_SOCKETS = 4429


def user_group(user_id: int) -> str:
    """Channel-layer group of every socket of one user, on every worker."""
    return f"user-sockets.{user_id}"


def session_group(session_key: str) -> str:
    """Channel-layer group of every socket opened with one session (a digest, not the key)."""
    return "session-sockets." + hashlib.sha256(session_key.encode()).hexdigest()[:32]


# Sends started from async code, held until they are done.
_pending: set[asyncio.Task] = set()


def _group_send(group: str, event: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    try:
        if loop is not None:  # called from async code (or a thread driving a loop)
            task = loop.create_task(layer.group_send(group, event))
            _pending.add(task)
            task.add_done_callback(_pending.discard)
        else:
            async_to_sync(layer.group_send)(group, event)
    except Exception:  # a socket left open is checked again on its next frame
        logger.exception("could not tell the sockets of %s", group)


def session_sockets_close(*, session_key: str) -> None:
    """Close every socket opened with this session (it is being logged out)."""
    _group_send(session_group(session_key), {"type": "session.closed"})


def user_sockets_check(*, user_id: int) -> None:
    """Make every socket of the user check that its session is still valid."""
    _group_send(user_group(user_id), {"type": "session.check"})


def session_user_id(*, session_key: str | None) -> int | None:
    """The id of the active user a session is logged in as now, or None.

    The same check as an HTTP request's (django.contrib.auth.get_user): the
    session exists, its password hash matches, the account is active.
    """
    if not session_key:
        return None
    request = HttpRequest()
    engine = import_string(settings.SESSION_ENGINE)
    request.session = engine.SessionStore(session_key)
    user = auth.get_user(request)
    return user.pk if user.is_authenticated and user.is_active else None


def session_holds_user(*, session_key: str | None, user_id: int) -> bool:
    """Whether the session still exists and is logged in as `user_id` (one session read).

    The check made before every frame that asks for work: a logout flushes the
    session, so its frames are refused. A password change or a deactivation
    makes every socket of the user run the full check (`session_user_id`)
    through `user_sockets_check`, so this one need not read the user.
    """
    if not session_key:
        return False
    store = import_string(settings.SESSION_ENGINE).SessionStore(session_key)
    return str(store.get(auth.SESSION_KEY)) == str(user_id)


def scope_session_key(scope: dict) -> str | None:
    session = scope.get("session")
    return session.session_key if isinstance(session, SessionBase) else None


# Open sockets per user in this process.
_open_sockets: Counter[int] = Counter()


def socket_admit(*, user_id: int) -> bool:
    """Count a new socket of the user in this process; False when over the cap."""
    cap = settings.PARLEY_MAX_SOCKETS_PER_USER
    if cap and _open_sockets[user_id] >= cap:
        return False
    _open_sockets[user_id] += 1
    return True


def socket_release(*, user_id: int) -> None:
    """Forget one socket of the user (it closed)."""
    _open_sockets[user_id] -= 1
    if _open_sockets[user_id] <= 0:
        del _open_sockets[user_id]


# --- Origin ------------------------------------------------------------------


def origin_allowed(*, origin: str, host: str, secure: bool) -> bool:
    """Whether a socket from `origin` may open, by the rules of Django's CSRF check.

    Allowed: the page's own origin (scheme, host and port of the request, the
    host one of ALLOWED_HOSTS), or one of CSRF_TRUSTED_ORIGINS (`https://*.x`
    matching subdomains), exactly as CsrfViewMiddleware accepts a POST.
    """
    domain, _port = split_domain_port(host)
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]
    own_origin = f"{'https' if secure else 'http'}://{host}"
    if domain and validate_host(domain, allowed_hosts) and origin == own_origin:
        return True
    trusted = settings.CSRF_TRUSTED_ORIGINS
    if origin in trusted:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    return any(
        is_same_domain(parsed.netloc, urlsplit(pattern).netloc[1:])
        for pattern in trusted
        if "*" in pattern and urlsplit(pattern).scheme == parsed.scheme
    )


class CsrfOriginValidator:
    """ASGI middleware: refuse a websocket whose Origin an HTTP POST could not have."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        origin = headers.get(b"origin", b"").decode("latin-1")
        host = headers.get(b"host", b"").decode("latin-1")
        secure = scope.get("scheme") in ("wss", "https")
        client = scope.get("client") or (None, None)
        if proxy_trusted(client[0]):
            forwarded = headers.get(b"x-forwarded-proto", b"").decode("latin-1")
            secure = secure or forwarded.split(",")[0].strip().lower() == "https"
        try:
            allowed = bool(origin) and origin_allowed(origin=origin, host=host, secure=secure)
        except DisallowedHost:
            allowed = False
        if not allowed:
            logger.info("websocket refused: origin %r for host %r", origin[:100], host[:100])
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
