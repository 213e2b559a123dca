"""ASGI entry point: HTTP through Django, websockets through Channels."""

import logging
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
# Set up Django before importing anything that touches models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import OperationalError, connections  # noqa: E402
from django.http import HttpRequest  # noqa: E402
from django.utils import translation  # noqa: E402

from conversations.engine import replies_interrupt_stale  # noqa: E402
from conversations.routing import websocket_urlpatterns  # noqa: E402
from conversations.socket_guard import CsrfOriginValidator  # noqa: E402

logger = logging.getLogger("parley.asgi")

if settings.PARLEY_STARTUP_TASKS:
    # Nothing heavy loads at start: the embedded model's weights (~200 MB) load
    # in the worker whose first reply needs them (LocalLlamaBackend.load), token
    # encodings (~45 MB) when the first conversation opens (see
    # ConversationConsumer.connect). A worker that serves no embedded-model
    # reply never holds the model.
    # Answers a dead process left half-written keep their text, marked interrupted.
    replies_interrupt_stale()
    # Give the connection back: the main thread makes no other query, and it
    # would hold one of the worker's pooled connections for good.
    connections.close_all()



class WebsocketLocaleMiddleware:
    """Speak the page's language on the socket: the language cookie, else Accept-Language.

    LocaleMiddleware only sees HTTP; this picks the language the same way, so the
    frames and refusals a consumer sends match the page they are swapped into.
    """

    def __init__(self, inner) -> None:
        self.inner = inner

    async def __call__(self, scope, receive, send):
        request = HttpRequest()
        request.COOKIES = scope.get("cookies", {})  # parsed by AuthMiddlewareStack
        headers = dict(scope.get("headers", []))
        accept = headers.get(b"accept-language", b"").decode("latin-1")
        request.META["HTTP_ACCEPT_LANGUAGE"] = accept
        with translation.override(translation.get_language_from_request(request)):
            return await self.inner(scope, receive, send)


class WebsocketBusyMiddleware:
    """Refuse a socket with 1013 "try again later" when the database is too busy for it.

    The session and user are read before the consumer runs: if every pooled
    connection stays busy past the timeout, the page's socket is told to try
    again (htmx's ws extension reconnects) instead of failing with 1011.
    """

    def __init__(self, inner) -> None:
        self.inner = inner

    async def __call__(self, scope, receive, send):
        try:
            return await self.inner(scope, receive, send)
        except OperationalError as exc:
            logger.warning("database busy, socket refused: %s", exc)
            await send({"type": "websocket.close", "code": 1013})


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The same origins as the HTTP CSRF check: scheme, host and port.
        "websocket": WebsocketBusyMiddleware(
            CsrfOriginValidator(
                AuthMiddlewareStack(WebsocketLocaleMiddleware(URLRouter(websocket_urlpatterns)))
            )
        ),
    }
)
