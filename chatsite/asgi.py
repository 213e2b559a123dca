"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
# Set up Django before importing anything that touches models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from conversations.backends.registry import models_warm_up  # noqa: E402
from conversations.generation import STALE_AFTER  # noqa: E402
from conversations.routing import websocket_urlpatterns  # noqa: E402
from conversations.services import messages_interrupt_stale  # noqa: E402

if settings.PARLEY_STARTUP_TASKS:
    # Local models' weights load once, when the server starts; token encodings
    # (~45 MB for cl100k_base) when the first conversation opens, in the
    # background (see ConversationConsumer.connect).
    models_warm_up(encodings=False)
    # Answers a dead process left half-written keep their text, marked interrupted.
    messages_interrupt_stale(older_than=STALE_AFTER)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
