from django import template
from django.utils.safestring import SafeString, mark_safe

from conversations.backends import UnknownModelError, get_model
from conversations.rendering import markdown_render

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    """Render untrusted markdown as sanitised HTML."""
    return mark_safe(markdown_render(text or ""))  # noqa: S308 - sanitised by nh3


@register.filter
def model_label(model_id: str) -> str:
    """Show a model id as its catalog label (the id itself if it left the catalog)."""
    try:
        return get_model(model_id).label
    except UnknownModelError:
        return model_id
