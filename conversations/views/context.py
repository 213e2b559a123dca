"""What the pages share: the typed htmx request and the page and sidebar contexts."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy
from django_htmx.middleware import HtmxDetails

from conversations import selectors, services
from conversations.backends import get_catalog
from conversations.context import conversation_gauge

# Shown on an empty new chat, in the reader's language: one click puts one in the composer.
EXAMPLE_PROMPTS = (
    gettext_lazy("Explain how a hash table works, with a short Python example"),
    gettext_lazy("Write a polite email asking to move Tuesday's meeting to Friday"),
    gettext_lazy("Plan a relaxed two-day trip to Busan"),
    gettext_lazy("What is the difference between a list and a tuple in Python?"),
)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def sidebar_context(user, conversation=None) -> dict:
    """The sidebar's pinned conversations and first page, queried only if rendered."""
    return {
        "current_public_id": conversation.public_id if conversation else None,
        "pinned": selectors.conversation_list_pinned(user=user),
        "sidebar_page": SimpleLazyObject(lambda: selectors.conversation_sidebar_page(user=user)),
    }


def page_context(user, conversation=None, **extra) -> dict:
    """Everything a full page with the sidebar and the composer shows."""
    catalog = get_catalog()
    context = {
        "conversation": conversation,
        **sidebar_context(user, conversation),
        "models": catalog.usable(),
        "default_model": catalog.default(),
        "presets": catalog.presets,
        "example_prompts": EXAMPLE_PROMPTS if conversation is None else (),
        # Compare is offered with two usable models or more; else the page says why.
        "compare_models": services.compare_models_available(),
        "compare_unusable": [
            (model, model.unusable_reason())
            for model in catalog.models.values()
            if not model.usable
        ],
    }
    context.update(extra)
    return context


def conversation_context(user, conversation, *, draft: str = "", **extra) -> dict:
    """Everything the conversation page shows about its model and context window."""
    gauge = conversation_gauge(conversation=conversation, draft=draft)
    return page_context(
        user,
        conversation,
        model=get_catalog().models.get(conversation.model_id),
        gauge=gauge,
        left_out_up_to=gauge.left_out_up_to if gauge else None,
        total_cost=selectors.conversation_cost(conversation=conversation),
        link=selectors.shared_link_active(conversation=conversation),
        **extra,
    )
