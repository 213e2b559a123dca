"""Keep each final answer's rendered HTML, rendering it at most once per renderer version.

Answers are rendered when they end (services.message_finish) and when they are
imported; answers saved before that (or cut short by a stopping server) are
rendered the first time a page shows them, and kept from then on.
"""

from __future__ import annotations

from collections.abc import Iterable

from conversations.models import Message
from conversations.rendering.markdown import RENDER_VERSION, rendered_fields


def messages_html_store(*, messages: Iterable[Message]) -> None:
    """Render and save the HTML of the final answers among `messages` that have none current."""
    for message in messages:
        if (
            message.role != Message.Role.ASSISTANT
            or message.status == Message.Status.STREAMING
            or message.content_html_version == RENDER_VERSION
        ):
            continue
        fields = rendered_fields(message.content)
        # Only if the text is still the one rendered (an answer may have ended meanwhile).
        Message.objects.filter(
            pk=message.pk, content=message.content, status=message.status
        ).update(**fields)
        for name, value in fields.items():
            setattr(message, name, value)
