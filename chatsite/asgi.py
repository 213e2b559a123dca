"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
# Set up Django before importing anything that touches models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.http import HttpRequest  # noqa: E402
from django.utils import translation  # noqa: E402

from conversations.backends.registry import models_warm_up  # noqa: E402
from conversations.engine import replies_interrupt_stale  # noqa: E402
from conversations.routing import websocket_urlpatterns  # noqa: E402
from conversations.socket_guard import CsrfOriginValidator  # noqa: E402

if settings.PARLEY_STARTUP_TASKS:
    # Local models' weights load once, when the server starts; token encodings
    # (~45 MB for cl100k_base) when the first conversation opens, in the
    # background (see ConversationConsumer.connect).
    models_warm_up(encodings=False)
    # Answers a dead process left half-written keep their text, marked interrupted.
    replies_interrupt_stale()



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


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The same origins as the HTTP CSRF check: scheme, host and port.
        "websocket": CsrfOriginValidator(
            AuthMiddlewareStack(WebsocketLocaleMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)
