"""Markdown to safe HTML: markdown-it-py (raw HTML off), Pygments, then nh3.

Model output is untrusted. Raw HTML is not parsed, code is highlighted with
CSS classes (no inline styles, which the CSP forbids), images become plain
links so that no remote image is ever loaded, and nh3 keeps only a short list
of tags and attributes (`sanitizing`). Math becomes MathML (`mathml`).

The work per message is bounded, because anyone can make a message (an import,
a model told to repeat): past RENDER_MAX_CHARS or RENDER_MAX_TOKENS markdown
nodes a message is shown as plain text, and math has its own limits (`mathml`).
Every rendering of a message's text goes through `markdown_render`, so each
is bounded: the page, the stream, search snippets (`html_text`). A finished
message is rendered once and its HTML kept (Message.content_html, see
`message_html`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape, unescape
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from conversations.rendering.highlighting import code_highlight
from conversations.rendering.mathml import math_plugin
from conversations.rendering.sanitizing import html_sanitize

# Bump when the HTML for the same text changes: stored renderings of an older
# version are rendered again (Message.content_html_version).
RENDER_VERSION = 1
RENDER_MAX_CHARS = 100_000
RENDER_MAX_TOKENS = 20_000


def _image_as_link(self, tokens, idx, options, env) -> str:
    token = tokens[idx]
    src = token.attrGet("src") or ""
    alt = self.renderInlineAsText(token.children or [], options, env) or src
    return f'<a href="{escape(src)}">{escape(alt)}</a>'


_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "highlight": code_highlight})
_md.enable(["table", "strikethrough"])
_md.add_render_rule("image", _image_as_link)
_md.use(math_plugin)


def markdown_parse(text: str) -> list[Token]:
    """Parse markdown into markdown-it's tokens, as `markdown_render` does (no bounds)."""
    return _md.parse(text)


def plain_text_render(text: str) -> str:
    """Show text as written, escaped: paragraphs and line breaks, no markdown."""
    paragraphs = [part for part in re.split(r"\n\s*\n", text) if part.strip()]
    return "".join(
        f'<p class="plain-text">{escape(part.strip()).replace(chr(10), "<br>")}</p>\n'
        for part in paragraphs
    )


def _token_count(tokens: Sequence[Token]) -> int:
    return len(tokens) + sum(len(token.children or ()) for token in tokens)


def markdown_render(text: str) -> str:
    """Render untrusted markdown to sanitised HTML, in bounded time and size."""
    if len(text) > RENDER_MAX_CHARS:
        return plain_text_render(text)
    env: dict[str, Any] = {}
    tokens = _md.parse(text, env)
    if _token_count(tokens) > RENDER_MAX_TOKENS:
        return plain_text_render(text)
    return html_sanitize(_md.renderer.render(tokens, _md.options, env))


_BLOCK_TAG = re.compile(
    r"</?(?:p|li|h[1-6]|pre|blockquote|tr|td|th|br|hr|div|ul|ol|table|thead|tbody)\b[^>]*>"
)
_ANY_TAG = re.compile(r"<[^>]+>")


def html_text(html: str) -> str:
    """The words of rendered markdown as a reader sees them: no tags, entities decoded (not HTML).

    Search snippets read a message this way, from `message_html`: the bounded
    rendering the page shows, stored once.
    """
    # Blocks are separated by a space; inline markup (**ze**bra) joins its words.
    html = _ANY_TAG.sub("", _BLOCK_TAG.sub(" ", html))
    return " ".join(unescape(html).split())


def message_html(message: Any) -> str:
    """A message's content as sanitised HTML: the stored rendering if it is current."""
    if message.content_html_version == RENDER_VERSION and message.content_html:
        return message.content_html
    return markdown_render(message.content or "")


def rendered_fields(content: str) -> dict[str, Any]:
    """The fields that store a final message's rendering (rendered once, here)."""
    return {"content_html": markdown_render(content), "content_html_version": RENDER_VERSION}
