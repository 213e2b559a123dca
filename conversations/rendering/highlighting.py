"""Code in fenced blocks highlighted by Pygments, with CSS classes (no inline styles: CSP)."""

from __future__ import annotations

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

_FORMATTER = HtmlFormatter(nowrap=True, classprefix="tok-")


def code_highlight(code: str, lang: str, _attrs: str) -> str:
    """Highlight a fence's code (markdown-it's `highlight` option); "" leaves it to markdown-it."""
    try:
        lexer = get_lexer_by_name(lang) if lang else None
    except ClassNotFound:
        lexer = None
    if lexer is None:
        return ""  # markdown-it escapes the code itself
    return highlight(code, lexer, _FORMATTER)


_DARK_FORMATTER = HtmlFormatter(nowrap=True, classprefix="tok-", style="github-dark")
# Dark colours where the page is dark: chosen, or the system's unless light was chosen.
_DARK_SCOPES = (
    ':root[data-theme="dark"] .markdown pre',
    ':root:not([data-theme="light"]) .markdown pre',
)


def pygments_css() -> str:
    """Stylesheet for highlighted code in light and dark themes (static/parley/pygments.css)."""
    light = _FORMATTER.get_style_defs(".markdown pre")
    chosen_dark = _DARK_FORMATTER.get_style_defs(_DARK_SCOPES[0])
    system_dark = _DARK_FORMATTER.get_style_defs(_DARK_SCOPES[1])
    return (
        "/* Generated from Pygments (conversations.rendering.highlighting.pygments_css). */\n"
        f"{light}\n{chosen_dark}\n"
        f"@media (prefers-color-scheme: dark) {{\n{system_dark}\n}}\n"
    )
