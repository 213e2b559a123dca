from decimal import Decimal

from django import template
from django.utils.safestring import SafeString, mark_safe

from conversations import frames
from conversations.backends import UnknownModelError, get_model
from conversations.rendering.markdown import markdown_render, message_html
from conversations.rendering.streaming import StreamingMarkdown

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    """Render untrusted markdown as sanitised HTML."""
    return mark_safe(markdown_render(text or ""))  # noqa: S308 - sanitised by nh3


@register.filter
def streaming_markdown(text: str, message_id: int) -> SafeString:
    """Render a reply still being written as a view streams it: done blocks, open tail."""
    renderer = StreamingMarkdown()
    renderer.feed(text or "")
    return mark_safe(frames.streaming_body(message_id, renderer))  # noqa: S308 - sanitised


@register.filter
def rendered(message) -> SafeString:
    """A message's content as sanitised HTML, rendered once when it was final."""
    return mark_safe(message_html(message))  # noqa: S308 - sanitised by nh3


@register.filter
def model_label(model_id: str) -> str:
    """Show a model id as its catalog label (the id itself if it left the catalog)."""
    try:
        return get_model(model_id).label
    except UnknownModelError:
        return model_id


@register.filter
def model_price_in(model_id: str) -> str:
    """The model's price per 1K input tokens in USD ("0" if it left the catalog)."""
    try:
        return str(get_model(model_id).price_input_per_1k)
    except UnknownModelError:
        return "0"


@register.filter
def model_price_out(model_id: str) -> str:
    """The model's price per 1K output tokens in USD ("0" if it left the catalog)."""
    try:
        return str(get_model(model_id).price_output_per_1k)
    except UnknownModelError:
        return "0"


@register.filter
def usd(amount) -> str:
    """Show a cost in dollars: cents for large sums, more digits for tiny ones."""
    if amount is None:
        return ""
    amount = Decimal(amount)
    if amount == 0:
        return "$0"
    if amount >= 1:
        return f"${amount:,.2f}"
    return f"${amount.normalize():f}" if amount >= Decimal("0.000001") else "<$0.000001"
